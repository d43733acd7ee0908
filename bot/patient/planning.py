"""Payment plans in chat (AR-059, AR-147, BI-22): offers, the schedule, the agreement.

Plans are offered by the configured policy (core.plans.PlanPolicy: minimum balance,
instalment counts, minimum instalment; interest-free). The patient picks one, reads
the schedule and the agreement, and accepts it in chat; core stores the version, a
SHA-256 of the exact text shown, the time and the channel as the signed agreement. If
the balance changed between showing and accepting, the new schedule is shown again
rather than enrolling on terms the patient did not see. Autopay saves a card through
the gateway's hosted page in setup mode; arbot only ever holds the gateway's ids.
"""

from __future__ import annotations

from bot.patient.context import PatientContext
from bot.patient.documents import document_choice
from bot.patient.identity import PATIENT
from bot.patient.labels import LABELS, MENU
from bot.patient.paying import account_label, pay_url
from bot.patient.texts import label, money_text, say
from bot.patient.turn import Turn
from core.errors import ValidationError
from core.money import parse_positive
from core.patients.documents import DocumentKind
from core.patients.summary import PatientAccount
from core.plans import (
    AGREEMENT_VERSION,
    PlanOffer,
    PlanPolicy,
    agreement_text_digest,
    enrol_plan,
    plan_of,
    plan_offers,
)
from core.ports import Choice, SetupRequest
from core.settings import Settings

CHOICES = {"plan", "plan_account", "plan_offer", "agree", "autopay"}


def plan_policy(settings: Settings) -> PlanPolicy:
    """The payment plans offered, from ``ARBOT_PLAN_*`` (interest-free always)."""
    try:
        counts = tuple(int(c) for c in settings.plan_counts.split(",") if c.strip())
    except ValueError as exc:
        raise ValidationError(
            f"ARBOT_PLAN_COUNTS {settings.plan_counts!r} is not a list of numbers"
        ) from exc
    return PlanPolicy(
        min_balance_minor=parse_positive(settings.plan_min_balance, settings.currency).minor,
        counts=counts,
        min_instalment_minor=parse_positive(settings.plan_min_instalment, settings.currency).minor,
        first_due_days=settings.plan_first_due_days,
    )


def policy_of(ctx: PatientContext) -> PlanPolicy:
    return ctx.plan_policy


async def choose(
    ctx: PatientContext, turn: Turn, accounts: list[PatientAccount], choice: str
) -> None:
    name, _, rest = choice.partition(":")
    parts = rest.split(":")
    account = next((a for a in accounts if str(a.account_id) == parts[0]), None)
    if name == "plan":
        await _pick(ctx, turn, accounts)
    elif account is None:
        turn.go("menu")
        turn.say("menu_hint", *MENU, turn.other_language())
    elif name == "plan_account":
        await _offers(ctx, turn, account)
    elif name == "plan_offer":
        _show(ctx, turn, account, _count(parts))
    elif name == "agree":
        await _agree(ctx, turn, account, _count(parts))
    else:
        await _autopay(ctx, turn, account)


def _count(parts: list[str]) -> int:
    return int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0


async def _pick(ctx: PatientContext, turn: Turn, accounts: list[PatientAccount]) -> None:
    owing = [a for a in accounts if a.balance.minor > 0]
    turn.go("menu")
    if not owing:
        turn.say("nothing_owed", *MENU)
    elif len(owing) == 1:
        await _offers(ctx, turn, owing[0])
    else:
        picks = [
            Choice(f"plan_account:{a.account_id}", account_label(turn, a.number)) for a in owing
        ]
        turn.say("pick_account", *picks, "menu")


async def _offers(ctx: PatientContext, turn: Turn, account: PatientAccount) -> None:
    turn.go("menu")
    async with ctx.db.read() as conn:
        plan = await plan_of(conn, account.account_id)
    if plan is not None:
        turn.say("plan_status", *MENU, account=account, plan=plan)
        return
    offers = plan_offers(account.balance, policy_of(ctx), policy_of(ctx).first_due(turn.today))
    if not offers:
        minimum = policy_of(ctx).min_balance_minor
        turn.say(
            "plan_not_offered",
            *MENU,
            minimum=type(account.balance)(minimum, account.balance.currency),
        )
        return
    choices = [
        turn.choice_for(
            f"plan_offer:{account.account_id}:{o.count}",
            count=str(o.count),
            amount=money_text(turn.language, o.instalments[0][1]),
        )
        for o in offers
    ]
    turn.say("plan_offers", *choices, "menu", account=account)


def _offer(
    ctx: PatientContext, turn: Turn, account: PatientAccount, count: int
) -> PlanOffer | None:
    offers = plan_offers(account.balance, policy_of(ctx), policy_of(ctx).first_due(turn.today))
    return next((o for o in offers if o.count == count), None)


def _agreement(turn: Turn, account: PatientAccount, offer: PlanOffer) -> str:
    return say(turn.language, "agreement", account=account, offer=offer, version=AGREEMENT_VERSION)


def _show(ctx: PatientContext, turn: Turn, account: PatientAccount, count: int) -> None:
    offer = _offer(ctx, turn, account, count)
    if offer is None:
        turn.go("menu")
        turn.say("plan_gone", *MENU)
        return
    text = _agreement(turn, account, offer)
    turn.go("menu", agreement=agreement_text_digest(text))
    agree = turn.choice_for(f"agree:{account.account_id}:{count}")
    turn.say("plan_schedule", agree, "menu", agreement=text)


async def _agree(ctx: PatientContext, turn: Turn, account: PatientAccount, count: int) -> None:
    offer = _offer(ctx, turn, account, count)
    shown = turn.data.get("agreement")
    text = _agreement(turn, account, offer) if offer else ""
    digest = agreement_text_digest(text)
    if offer is None or digest != shown:  # the balance moved since: show the terms again
        if offer is not None:
            turn.say("plan_changed")
            _show(ctx, turn, account, count)
        else:
            turn.go("menu")
            turn.say("plan_gone", *MENU)
        return
    plan = await enrol_plan(
        ctx.db,
        PATIENT,
        account_id=account.account_id,
        count=count,
        policy=policy_of(ctx),
        agreement_version=AGREEMENT_VERSION,
        agreement_digest=digest,
        channel=turn.channel,
        key=f"plan:{turn.channel}:{turn.address}:{digest[:24]}",
        first_due=policy_of(ctx).first_due(turn.today),
        agreement_text=text,
    )
    turn.go("menu")
    copy = await document_choice(
        ctx,
        DocumentKind.AGREEMENT,
        account_id=account.account_id,
        ref=str(plan.id),
        language=turn.language,
    )
    extra = (turn.choice_for(f"autopay:{account.account_id}"),) if ctx.gateway else ()
    turn.say("plan_enrolled", copy, *extra, *MENU, plan=plan, account=account)


async def _autopay(ctx: PatientContext, turn: Turn, account: PatientAccount) -> None:
    async with ctx.db.read() as conn:
        plan = await plan_of(conn, account.account_id)
    turn.go("menu")
    if plan is None or ctx.gateway is None:
        turn.say("menu_hint", *MENU, turn.other_language())
        return
    base = pay_url(ctx, "done").rsplit("/pay/", 1)[0]
    session = await ctx.gateway.create_setup(
        SetupRequest(
            currency=account.balance.currency,
            metadata={"arbot_plan": str(plan.id), "arbot_account": str(account.account_id)},
            idempotency_key=f"autopay:{plan.id}:{turn.today.isoformat()}",
            success_url=f"{base}/pay/done",
            cancel_url=f"{base}/pay/cancelled",
        )
    )
    link = Choice("pay_now", label(turn.language, LABELS["autopay"]), url=session.url)
    turn.say("autopay_link", link, "menu", url=session.url, sms=turn.channel == "sms")
