"""Paying by link (AR-017, BI-08, BI-23): the whole balance, the overdue part, the next
plan instalment, an amount the patient types, or a prepayment (BI-07, AR-087).

The chat hands out ``PUBLIC_BASE_URL/pay/<token>``; the Stripe Checkout Session is
made only when the patient opens it (core.patients.paylinks), so a link in an SMS
never expires. Card data never comes near the chat: the page is Stripe's.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from bot.patient.context import PatientContext
from bot.patient.labels import LABELS, MENU
from bot.patient.texts import label, money_text
from bot.patient.turn import Turn
from core.money import Money, currency_exponent
from core.patients.paylinks import PayChoice, issue_pay_link
from core.patients.prepay import prepay_offers
from core.patients.summary import PatientAccount
from core.plans import plan_of
from core.ports import Choice

CHOICES = {
    "pay",
    "pay_account",
    "pay_balance",
    "pay_overdue",
    "pay_instalment",
    "pay_amount",
    "prepay",
    "prepay_account",
    "prepay_offer",
}
KINDS = {
    "pay_balance": PayChoice.BALANCE,
    "pay_overdue": PayChoice.OVERDUE,
    "pay_instalment": PayChoice.INSTALMENT,
}


def public_url(ctx: PatientContext, path: str) -> str:
    """``path`` on ``PUBLIC_BASE_URL`` (this server's own address when it is unset)."""
    base = ctx.settings.public_base_url or f"http://{ctx.settings.host}:{ctx.settings.port}"
    return f"{base.rstrip('/')}{path}"


def pay_url(ctx: PatientContext, token: str) -> str:
    return public_url(ctx, f"/pay/{token}")


def _account(accounts: list[PatientAccount], text: str) -> PatientAccount | None:
    return next((a for a in accounts if str(a.account_id) == text), None)


async def choose(
    ctx: PatientContext, turn: Turn, accounts: list[PatientAccount], choice: str
) -> None:
    name, _, rest = choice.partition(":")
    if name in ("pay", "prepay"):
        await _pick_account(ctx, turn, accounts, name)
        return
    account = _account(accounts, rest.split(":")[0])
    if account is None:  # a stale or forged id: this chat cannot reach it
        turn.go("menu")
        turn.say("menu_hint", *MENU, turn.other_language())
    elif name == "pay_account":
        await _options(ctx, turn, account)
    elif name == "prepay_account":
        await _prepay_options(ctx, turn, account)
    elif name == "pay_amount":
        turn.go("amount", account=account.account_id)
        turn.say("ask_amount", "menu", account=account)
    elif name == "prepay_offer":
        await _link(ctx, turn, account, PayChoice.PREPAY, service_code=rest.split(":", 1)[1])
    else:
        await _link(ctx, turn, account, KINDS[name])


async def _pick_account(
    ctx: PatientContext, turn: Turn, accounts: list[PatientAccount], name: str
) -> None:
    owing = [a for a in accounts if a.balance.minor > 0] if name == "pay" else accounts
    if not owing:
        turn.go("menu")
        turn.say("nothing_owed", *MENU)
    elif len(owing) == 1:
        await (_options if name == "pay" else _prepay_options)(ctx, turn, owing[0])
    else:
        turn.go("menu")
        chosen = [
            Choice(f"{name}_account:{a.account_id}", account_label(turn, a.number)) for a in owing
        ]
        turn.say("pick_account", *chosen, "menu")


async def _options(ctx: PatientContext, turn: Turn, account: PatientAccount) -> None:
    turn.go("menu")
    ident = account.account_id
    offers = [turn.choice_for(f"pay_balance:{ident}", amount=_money(turn, account.balance))]
    if 0 < account.overdue.minor < account.balance.minor:
        offers.append(
            turn.choice_for(f"pay_overdue:{ident}", amount=_money(turn, account.overdue))
        )
    async with ctx.db.read() as conn:
        plan = await plan_of(conn, ident)
    if plan is not None and plan.next_due is not None:
        amount = _money(turn, plan.next_due.open)
        offers.append(turn.choice_for(f"pay_instalment:{ident}", amount=amount))
    offers.append(turn.choice_for(f"pay_amount:{ident}"))
    turn.say("pay_options", *offers, "menu", account=account)


def account_label(turn: Turn, number: str) -> str:
    return label(turn.language, LABELS["account"]).format(number=number)


def _money(turn: Turn, amount: Money) -> str:
    return money_text(turn.language, amount)


async def _link(
    ctx: PatientContext,
    turn: Turn,
    account: PatientAccount,
    kind: PayChoice,
    *,
    amount_minor: int | None = None,
    service_code: str | None = None,
) -> None:
    token = await issue_pay_link(
        ctx.db,
        account_id=account.account_id,
        choice=kind,
        channel=turn.channel,
        address=turn.address,
        amount_minor=amount_minor,
        service_code=service_code,
    )
    url = pay_url(ctx, token)
    turn.go("menu")
    pay_now = Choice("pay_now", label(turn.language, LABELS["pay_now"]), url=url)
    turn.say("pay_link", pay_now, "menu", url=url, sms=turn.channel == "sms", account=account)


async def typed_amount(ctx: PatientContext, turn: Turn, accounts: list[PatientAccount]) -> None:
    account = _account(accounts, str(turn.data.get("account", "")))
    amount = _parse_amount(turn.text, account.balance.currency) if account else None
    if account is None:
        turn.go("menu")
        turn.say("menu_hint", *MENU, turn.other_language())
    elif amount is None or amount.minor <= 0:
        turn.say(
            "amount_invalid", "menu", example=_money(turn, Money(2550, account.balance.currency))
        )
    elif amount > account.balance:
        turn.say("amount_over", "menu", balance=account.balance)
    else:
        await _link(ctx, turn, account, PayChoice.AMOUNT, amount_minor=amount.minor)


def _parse_amount(text: str, currency: str) -> Money | None:
    """``25``, ``25.50``, ``$25.50``, ``25,50`` (a decimal comma) and ``1,250.00``."""
    cleaned = text.strip().replace("$", "").replace("US", "").replace(" ", "")
    if "," in cleaned and "." not in cleaned and len(cleaned.rsplit(",", 1)[1]) <= 2:
        cleaned = cleaned.replace(",", ".")
    cleaned = cleaned.replace(",", "")
    try:
        value = Decimal(cleaned)
    except InvalidOperation:
        return None
    if not value.is_finite() or value.as_tuple().exponent < -currency_exponent(currency):  # type: ignore[operator]
        return None
    if value > Decimal(10) ** 13:
        return None
    return Money.from_decimal(value, currency)


async def _prepay_options(ctx: PatientContext, turn: Turn, account: PatientAccount) -> None:
    async with ctx.db.read() as conn:
        offers = await prepay_offers(conn, location=account.location, on=turn.today)
    turn.go("menu")
    if not offers:
        turn.say("no_prepay", *MENU)
        return
    choices = [
        turn.choice_for(
            f"prepay_offer:{account.account_id}:{o.service_code}",
            service=o.description,
            amount=_money(turn, o.price),
        )
        for o in offers[:8]
    ]
    turn.say("prepay_options", *choices, "menu")
