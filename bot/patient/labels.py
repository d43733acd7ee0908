"""Button labels and the keywords patients type, in every language.

Labels are marked with ``_`` so ``pybabel extract`` finds them; they are translated
when a message is rendered (:func:`bot.patient.texts.label`). Keywords work in any
case, with or without a leading ``/`` (Telegram commands), in English and Spanish.
"""

from __future__ import annotations

import unicodedata


def _(text: str) -> str:
    """Mark ``text`` for the catalogue; translation happens at render time."""
    return text


LABELS = {
    "balance": _("Balance"),
    "statement": _("Statement"),
    "pay": _("Pay"),
    "plan": _("Payment plan"),
    "prepay": _("Prepay a service"),
    "agent": _("Talk to a person"),
    "help": _("Help"),
    "menu": _("Menu"),
    "pay_balance": _("Whole balance ({amount})"),
    "pay_overdue": _("Overdue part ({amount})"),
    "pay_instalment": _("Next instalment ({amount})"),
    "account": _("Account {number}"),
    "plan_offer": _("{count} payments of {amount}"),
    "prepay_offer": _("{service}: {amount}"),
    "pay_amount": _("Another amount"),
    "pay_now": _("Open the secure payment page"),
    "agree": _("I agree"),
    "cancel": _("Cancel"),
    "autopay": _("Turn on autopay"),
    "receipt_pdf": _("Receipt (PDF)"),
    "agreement_pdf": _("Agreement (PDF)"),
    "contact": _("Share my phone number"),
}
MENU = ("balance", "pay", "plan", "statement", "agent")
"""The choices a verified patient is offered after every answer."""
LANGUAGE_NAMES = {"en": "English", "es": "Español"}
"""Each language's own name: the button to switch to it is never translated."""

KEYWORDS = {
    "balance": "balance",
    "saldo": "balance",
    "pay": "pay",
    "pagar": "pay",
    "plan": "plan",
    "statement": "statement",
    "estado": "statement",
    "help": "help",
    "ayuda": "help",
    "agent": "agent",
    "agente": "agent",
    "menu": "menu",
    "prepay": "prepay",
    "prepago": "prepay",
    "english": "lang:en",
    "ingles": "lang:en",
    "espanol": "lang:es",
    "language": "language",
    "idioma": "language",
    "start": "start",
}
"""What a typed word means; the value is a choice id."""

SMS_STOP = frozenset({"stop", "stopall", "unsubscribe", "cancel", "end", "quit", "parar", "baja"})
SMS_START = frozenset({"start", "unstop", "yes", "alta"})
SMS_HELP = frozenset({"help", "info", "ayuda"})
"""The carrier keywords an SMS sender must honour at once, whatever the conversation."""


def plain_word(text: str) -> str:
    """``"  ESPAÑOL "`` -> ``"espanol"``; ``"/Balance"`` -> ``"balance"``."""
    word = text.strip().lstrip("/").split("@")[0].casefold()
    decomposed = unicodedata.normalize("NFKD", word)
    return "".join(c for c in decomposed if not unicodedata.combining(c))
