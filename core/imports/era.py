"""Reading a payer's electronic remittance advice, an ASC X12 835 (AR-068).

An 835 says what an insurer paid on which claims and why the rest was not paid. What
arbot reads of it:

* ``ISA``: the separators (the element separator is the ISA's 4th character, the
  component separator its 16th element, the segment terminator the character after);
* ``ST*835`` ... ``SE``: one remittance each (a file may hold several);
* ``BPR``: the total paid (``BPR02``), how (``BPR04``: ``ACH``, ``CHK`` ...) and on
  which day (``BPR16``); ``TRN02``: the check or EFT trace number; ``N1*PR``: the payer;
* ``CLP``: one claim: our claim number (``CLP01``, the transaction number arbot billed),
  its status (``CLP02``), charged (``CLP03``), paid (``CLP04``), patient's share
  (``CLP05``); ``CAS`` segments of the claim and of its service lines (``SVC``): the
  adjustments by group (``CO`` contractual obligation, ``PR`` patient responsibility,
  ``OA`` other, ``PI`` payer initiated, ``CR`` correction), reason code and amount;
* ``PLB``: adjustments at the provider's level (interest, a recoupment) that make the
  total paid differ from the claims' sum.

Parsing checks only the shape; :mod:`core.imports.remittance` checks the claims against
the ledger. Nothing else of the 835 (names, service dates, remark codes) is kept.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation

from core.errors import ValidationError

GROUPS = ("CO", "PR", "OA", "PI", "CR")


@dataclass(frozen=True, slots=True)
class Adjustment:
    group: str
    reason: str
    """The claim adjustment reason code (CARC), e.g. ``45``: charge over the fee schedule."""
    amount_minor: int


@dataclass(slots=True)
class Claim:
    segment: int
    """Which segment of the file the claim's CLP is (for the reject report)."""
    number: str
    status: str
    charged_minor: int
    paid_minor: int
    patient_minor: int
    payer_claim: str = ""
    adjustments: list[Adjustment] = field(default_factory=list)

    def adjusted(self, *groups: str) -> int:
        return sum(a.amount_minor for a in self.adjustments if a.group in groups)


@dataclass(slots=True)
class Remittance:
    paid_minor: int
    method: str
    paid_on: date | None
    trace: str = ""
    payer: str = ""
    payer_id: str = ""
    """Who the payer is: the originating company of the trace (``TRN03``), else the
    payer's identifier (``N1*PR`` ``N104``)."""
    claims: list[Claim] = field(default_factory=list)
    provider_minor: int = 0
    """What the PLB segments take off the payment (negative: they add to it)."""


def minor(text: str, exponent: int = 2) -> int:
    """An X12 amount (``1250``, ``1250.5``, ``-20.00``) in minor units."""
    try:
        value = Decimal(text.strip())
    except InvalidOperation:
        raise ValidationError(f"{text!r} is not an amount") from None
    scaled = value.scaleb(exponent)
    if not value.is_finite() or scaled != scaled.to_integral_value():
        raise ValidationError(f"{text!r} is not an amount in cents")
    return int(scaled)


def _day(text: str) -> date | None:
    if len(text) != 8 or not text.isdigit():
        return None
    try:
        return date(int(text[:4]), int(text[4:6]), int(text[6:]))
    except ValueError:
        return None


def segments(text: str) -> list[list[str]]:
    """The file's segments, each a list of elements (the segment's id first)."""
    body = text.lstrip("\ufeff \r\n\t")
    if not body.startswith("ISA") or len(body) < 106:
        raise ValidationError("this is not an X12 file: it must begin with an ISA segment")
    sep = body[3]
    isa = body.split(sep, 16)
    if len(isa) < 17 or len(isa[16]) < 2:
        raise ValidationError("the ISA segment is cut short")
    terminator = isa[16][1]
    parts = [s.strip("\r\n\t ") for s in body.split(terminator)]
    return [s.split(sep) for s in parts if s]


def _element(seg: list[str], n: int) -> str:
    return seg[n].strip() if len(seg) > n else ""


def read_835(text: str, exponent: int = 2) -> list[Remittance]:
    """Every remittance (ST*835 ... SE) in ``text``; a file whose shape is wrong is
    refused whole, with the segment that is wrong."""
    found: list[Remittance] = []
    current: Remittance | None = None
    claim: Claim | None = None
    for number, seg in enumerate(segments(text), start=1):
        tag = seg[0].strip().upper()
        try:
            if tag == "ST":
                if _element(seg, 1) != "835":
                    raise ValidationError(f"it is an X12 {_element(seg, 1) or '?'}, not an 835")
                current, claim = None, None
            elif tag == "BPR":
                current = Remittance(
                    minor(_element(seg, 2), exponent),
                    _element(seg, 4).upper(),
                    _day(_element(seg, 16)),
                )
                found.append(current)
            elif current is None:
                if tag in ("TRN", "N1", "CLP", "CAS", "SVC", "PLB"):
                    raise ValidationError(f"{tag} comes before the BPR segment")
            elif tag == "TRN":
                current.trace = _element(seg, 2)
                current.payer_id = _element(seg, 3) or current.payer_id
            elif tag == "N1" and _element(seg, 1) == "PR":
                current.payer = _element(seg, 2)
                current.payer_id = current.payer_id or _element(seg, 4)
            elif tag == "CLP":
                claim = _claim(seg, number, exponent)
                current.claims.append(claim)
            elif tag == "CAS":
                if claim is None:
                    raise ValidationError("CAS comes before any claim (CLP)")
                claim.adjustments += _adjustments(seg, exponent)
            elif tag == "PLB":
                current.provider_minor += sum(
                    minor(seg[i], exponent) for i in range(4, len(seg), 2) if seg[i].strip()
                )
        except ValidationError as exc:
            raise ValidationError(f"segment {number} ({tag}): {exc}") from None
    if not found:
        raise ValidationError("the file holds no 835 payment (no BPR segment)")
    return found


def _claim(seg: list[str], number: int, exponent: int) -> Claim:
    claim_id = _element(seg, 1)
    if not claim_id:
        raise ValidationError("the claim has no number (CLP01)")
    return Claim(
        number,
        claim_id,
        _element(seg, 2),
        minor(_element(seg, 3) or "0", exponent),
        minor(_element(seg, 4) or "0", exponent),
        minor(_element(seg, 5) or "0", exponent),
        _element(seg, 7),
    )


def _adjustments(seg: list[str], exponent: int) -> list[Adjustment]:
    group = _element(seg, 1).upper()
    if group not in GROUPS:
        raise ValidationError(f"{group!r} is not an adjustment group ({', '.join(GROUPS)})")
    made = []
    for i in range(2, len(seg), 3):
        reason = seg[i].strip()
        if reason:
            made.append(Adjustment(group, reason, minor(_element(seg, i + 1) or "0", exponent)))
    if not made:
        raise ValidationError("the adjustment gives no reason and amount")
    return made
