"""How the office wants its invoices to look and what they carry (BI-05, BI-14).

A branded invoice (BI-05) carries the practice's details at its top (name, address,
phone, tax id), its logo when it has one, and its colour on the header band, the rules
and the table's heading. What else an invoice shows depends on who is billed (BI-14):
a payer may want the payment terms, the patient it is for, each line's service code,
doctor or location, and a regulation may ask for some of them. The office names those
extra fields once for every payer and, where a financial class needs others, for that
class: ``terms,patient_id;medicare=terms,patient_id,service_codes;self_pay=terms``.
A class named on its own gets exactly the fields listed for it, not those for everyone.

Everything here is read from the settings once and checked when a command starts, so
that a misspelt field or a logo that cannot be read stops it before anything is made.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from core.errors import ValidationError
from core.profile.common import class_code

INVOICE_FIELDS = ("terms", "patient_id", "service_codes", "doctor", "location")
"""The extra fields an invoice may carry (BI-14): the account's payment terms, who the
invoice is for (the patient's account for a payer, the patient's MRN for the patient),
and a column of each line's service code, doctor or location."""
_COLOUR = re.compile(r"#([0-9A-Fa-f]{2})([0-9A-Fa-f]{2})([0-9A-Fa-f]{2})")
_IMAGE_KINDS = {"PNG": "png", "JPEG": "jpeg"}


@dataclass(frozen=True, slots=True)
class FieldChoice:
    """The extra fields each financial class's invoices carry (BI-14)."""

    default: tuple[str, ...] = ()
    by_class: tuple[tuple[str, tuple[str, ...]], ...] = ()
    """Financial classes named on their own, with their fields."""

    def for_class(self, financial_class: str) -> frozenset[str]:
        """The fields an invoice to an account of ``financial_class`` carries."""
        for name, chosen in self.by_class:
            if name == financial_class:
                return frozenset(chosen)
        return frozenset(self.default)


@dataclass(frozen=True, slots=True)
class Practice:
    """Who sends the invoice: printed at the top of every page's first lines (BI-05)."""

    name: str = ""
    address: tuple[str, ...] = ()
    phone: str = ""
    tax_id: str = ""


@dataclass(frozen=True, slots=True)
class InvoiceSetup:
    """Everything the office configured about its invoices (BI-05, BI-14)."""

    practice: Practice
    logo: Path | None
    """A PNG or JPEG file known to open as one."""
    colour: tuple[int, int, int]
    fields: FieldChoice


def parse_colour(text: str) -> tuple[int, int, int]:
    """``#1F3A5F`` as its red, green and blue, each 0-255."""
    found = _COLOUR.fullmatch(text.strip())
    if found is None:
        raise ValidationError(f"{text!r} is not a colour: write it as #RRGGBB, e.g. #1F3A5F")
    red, green, blue = (int(part, 16) for part in found.groups())
    return red, green, blue


def check_logo(text: str) -> Path:
    """The logo's file, once it is known to be a PNG or JPEG image that can be read."""
    from PIL import Image, UnidentifiedImageError

    path = Path(text.strip()).expanduser()
    if path.is_dir():
        raise ValidationError(f"{path} is a folder: name a PNG or JPEG file")
    if not path.is_file():
        raise ValidationError(f"there is no file {path}: name a PNG or JPEG file")
    try:
        with Image.open(path) as image:
            kind = image.format
            image.verify()
    except UnidentifiedImageError:
        kind = None
    except OSError as exc:
        raise ValidationError(f"{path} cannot be read: {exc.strerror or exc}") from None
    except (SyntaxError, ValueError) as exc:  # what Pillow raises for a broken image
        raise ValidationError(f"{path} is a broken image: {exc}") from None
    if kind not in _IMAGE_KINDS:
        raise ValidationError(f"{path} is not a PNG or JPEG image")
    return path


def parse_fields(text: str) -> FieldChoice:
    """``terms,patient_id;medicare=terms,service_codes;self_pay=`` (BI-14): the fields
    for every class, then ``class=fields`` parts, separated by ``;``."""
    default: tuple[str, ...] | None = None
    by_class: dict[str, tuple[str, ...]] = {}
    for part in (p.strip() for p in text.split(";")):
        if not part:
            continue
        if "=" not in part:
            if default is not None:
                raise ValidationError(
                    f"{part!r} lists the fields for every class a second time: name them "
                    "once, then class=field,field for a class that needs others"
                )
            default = _field_names(part)
            continue
        name, _, listed = part.partition("=")
        if "=" in listed:
            raise ValidationError(f"{part!r} has more than one '=': write class=field,field")
        code = class_code(name, "financial class")
        if code in by_class:
            raise ValidationError(f"the financial class {code} is named twice")
        by_class[code] = _field_names(listed)
    return FieldChoice(default or (), tuple(sorted(by_class.items())))


def _field_names(listed: str) -> tuple[str, ...]:
    names = [n.strip().lower() for n in listed.split(",") if n.strip()]
    for name in names:
        if name not in INVOICE_FIELDS:
            raise ValidationError(
                f"{name!r} is not an invoice field: use {', '.join(INVOICE_FIELDS)}"
            )
    return tuple(dict.fromkeys(names))


def practice_of(name: str, address: str, phone: str, tax_id: str) -> Practice:
    """The practice's details as the settings give them: address lines split on ``|``."""
    lines = tuple(line.strip() for line in address.split("|") if line.strip())
    return Practice(name.strip(), lines, phone.strip(), tax_id.strip())
