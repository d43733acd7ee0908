"""The web access log without secrets in it: a pay link's token is as good as the link.

``/pay/<token>`` and ``/pay/test/<session>`` are logged as ``/pay/***``; query strings
are dropped (Slack and Stripe put nothing there we need to read back)."""

from __future__ import annotations

import logging
import re

from aiohttp.abc import AbstractAccessLogger
from aiohttp.web import BaseRequest, StreamResponse

SECRET_PATH = re.compile(r"^/pay/(?!done$|cancelled$)(?:test/)?[^/]+")

log = logging.getLogger("aiohttp.access")


def masked(path: str) -> str:
    return SECRET_PATH.sub("/pay/***", path)


class MaskedAccessLogger(AbstractAccessLogger):
    def log(self, request: BaseRequest, response: StreamResponse, time: float) -> None:
        self.logger.info(
            "%s %s %s %.1f ms", request.method, masked(request.path), response.status, time * 1000
        )
