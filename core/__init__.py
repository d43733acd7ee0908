"""The A/R domain: who owes what, for which service, and how it gets paid.

``core`` knows nothing about chat, HTTP or any provider's wire format. It talks to
the outside through small ports it defines itself (a clock, a payment gateway, a
patient messenger, a staff messenger); ``bot`` and ``scheduler`` plug adapters in.
Only ``core.ledger`` writes money.
"""
