"""The pay pages and the Stripe webhook as a patient's browser and Stripe meet them.

``await pay_app()`` serves :mod:`bot.patient.payweb` and :mod:`bot.patient.stripe_webhook`
on an ephemeral 127.0.0.1 port, mounted as ``bot.web`` mounts them, with the real
:class:`~bot.patient.stripe_gateway.StripeGateway` pointed at the fake Stripe
(``tests.fakes.stripe``), whose events go to the app's webhook; ``pay_app(local=True)``
runs without Stripe keys, on the local test checkout. Every posting's outcome handed to
``notify`` (the receipt) is kept in ``PayApp.notified``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import ClientResponse, web
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import func, select

from bot.patient import payweb, stripe_webhook
from bot.patient.context import PatientContext
from bot.patient.events import Inbound
from bot.patient.stripe_gateway import LocalGateway, StripeGateway
from core.db import Database
from core.ledger.items import Item
from core.ledger.tables import journal_entry
from core.patients.gateway import GatewayOutcome
from core.patients.gateway_tables import gateway_payment, gateway_reversal
from core.patients.paylinks import PayChoice, issue_pay_link
from core.ports import OutboundMessage
from core.settings import Settings
from tests.core.helpers import items_of
from tests.fakes.stripe import SECRET_KEY, WEBHOOK_SECRET, FakeStripe

CHAT = {"channel": "telegram", "address": "4242"}


class Silent:
    """The conversation, unused here: the pay pages and the webhook never call it."""

    async def handle(self, inbound: Inbound) -> list[OutboundMessage]:
        raise AssertionError("the pay pages must not reach the conversation")


@dataclass
class PayApp:
    http: TestClient[Any, Any]
    ctx: PatientContext
    stripe: FakeStripe | None
    notified: list[GatewayOutcome] = field(default_factory=list)

    @property
    def db(self) -> Database:
        return self.ctx.db

    @property
    def base(self) -> str:
        return str(self.http.make_url("")).rstrip("/")

    async def get(self, path: str) -> ClientResponse:
        return await self.http.get(path, allow_redirects=False)

    async def post(self, path: str) -> ClientResponse:
        return await self.http.post(path, allow_redirects=False)

    async def link(self, account_id: int, choice: PayChoice, **kwargs: Any) -> str:
        return await issue_pay_link(
            self.db,
            account_id=account_id,
            choice=choice,
            channel=CHAT["channel"],
            address=CHAT["address"],
            **kwargs,
        )

    async def checkout(self, token: str) -> str:
        """Press Pay on the link's page; the session id the 303 leads to."""
        response = await self.post(f"/pay/{token}")
        assert response.status == 303, await response.text()
        return response.headers["Location"].rsplit("/", 1)[1]


async def entries(db: Database) -> int:
    async with db.read() as conn:
        count = await conn.execute(select(func.count()).select_from(journal_entry))
        return int(count.scalar_one())


async def gateway_rows(db: Database) -> tuple[int, int]:
    """Gateway payments and reversals recorded."""
    async with db.read() as conn:
        paid = await conn.execute(select(func.count()).select_from(gateway_payment))
        back = await conn.execute(select(func.count()).select_from(gateway_reversal))
        return int(paid.scalar_one()), int(back.scalar_one())


async def open_of(db: Database, account_id: int) -> dict[int, int]:
    """What is still open on each item of the account, in minor units."""
    found: list[Item] = await items_of(db, account_id)
    return {i.id: i.open.minor for i in found}


StartPayApp = Callable[..., Awaitable[PayApp]]


@pytest.fixture
async def pay_app(db: Database, fake_stripe: FakeStripe) -> AsyncIterator[StartPayApp]:
    """``await pay_app(local=False, **settings)``: the running app (stopped after the
    test). Its public base URL is its own address, so redirects can be followed."""
    async with AsyncExitStack() as stack:

        async def start(local: bool = False, **overrides: Any) -> PayApp:
            ctx = PatientContext(db=db, settings=Settings(), conversation=Silent())
            app = web.Application()
            payweb.mount(app, ctx)
            stripe_webhook.mount(app, ctx)
            client: TestClient[Any, Any] = TestClient(TestServer(app, host="127.0.0.1"))
            await stack.enter_async_context(client)
            base = str(client.make_url("")).rstrip("/")
            values: dict[str, Any] = {"database_url": db.url, "public_base_url": base}
            if not local:
                values.update(
                    stripe_secret_key=SECRET_KEY,
                    stripe_webhook_secret=WEBHOOK_SECRET,
                    stripe_api_base=fake_stripe.base,
                )
            ctx.settings = dataclasses.replace(ctx.settings, **{**values, **overrides})
            if local:
                ctx.gateway = LocalGateway(ctx.settings)
            else:
                gateway = StripeGateway(ctx.settings)
                stack.push_async_callback(gateway.close)
                ctx.gateway = gateway
            fake_stripe.webhook_url = f"{base}{stripe_webhook.WEBHOOK_PATH}"
            running = PayApp(client, ctx, None if local else fake_stripe)

            async def notify(outcome: GatewayOutcome) -> None:
                running.notified.append(outcome)

            ctx.notify = notify
            return running

        yield start
