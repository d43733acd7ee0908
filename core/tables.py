"""Imports every module that defines tables, so the metadata is complete (migrations, tests)."""

from core import auth as _auth  # noqa: F401
from core import digests as _digests  # noqa: F401
from core import integrity as _integrity  # noqa: F401
from core import jobs as _jobs  # noqa: F401
from core import links as _links  # noqa: F401
from core import snapshots as _snapshots  # noqa: F401
from core import statements as _statements  # noqa: F401
from core import worklists as _worklists  # noqa: F401
from core.approvals import tables as _approvals  # noqa: F401
from core.billing import tables as _billing  # noqa: F401
from core.db import audit as _audit  # noqa: F401
from core.db.metadata import metadata
from core.dunning import tables as _dunning  # noqa: F401
from core.imports import rejects as _rejects  # noqa: F401
from core.ledger import tables as _ledger  # noqa: F401
from core.patients import agents as _agents  # noqa: F401
from core.patients import chatstate as _chatstate  # noqa: F401
from core.patients import documents as _documents  # noqa: F401
from core.patients import gateway_tables as _gateway  # noqa: F401
from core.patients import identity as _identity  # noqa: F401
from core.patients import inbox as _inbox  # noqa: F401
from core.patients import outbox as _outbox  # noqa: F401
from core.patients import paylinks as _paylinks  # noqa: F401
from core.plans import tables as _plans  # noqa: F401
from core.services import held as _held  # noqa: F401

__all__ = ["metadata"]
