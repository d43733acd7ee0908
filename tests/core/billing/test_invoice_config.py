"""What the office configures about its invoices (BI-05: practice details, logo, colour;
BI-14: extra fields per financial class), read from the environment: sensible values
are what the invoices use, nonsense stops the command at start with a sentence naming
the variable."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from core.billing.invoice_config import FieldChoice, InvoiceSetup, Practice
from core.errors import ValidationError
from core.settings import Settings, invoice_setup


def setup_of(**env: str) -> InvoiceSetup:
    return invoice_setup(Settings.from_env(env))


def test_by_default_an_invoice_is_dark_blue_with_no_logo_and_no_extra_fields() -> None:
    assert setup_of() == InvoiceSetup(Practice(), None, (0x1F, 0x3A, 0x5F), FieldChoice())
    assert FieldChoice().for_class("medicare") == frozenset()


def test_the_environment_sets_the_practice_the_logo_the_colour_and_the_fields(
    tmp_path: Path,
) -> None:
    logo = tmp_path / "logo.jpg"
    Image.new("RGB", (60, 20), (200, 0, 0)).save(logo, "JPEG")

    setup = setup_of(
        ARBOT_PRACTICE_NAME=" Clínica del Sol ",
        ARBOT_PRACTICE_ADDRESS="12 Sun Road | Suite 4||Austin, TX 78701",
        ARBOT_PRACTICE_PHONE="+1 512 555 0100",
        ARBOT_PRACTICE_TAX_ID="74-1234567",
        ARBOT_INVOICE_LOGO=str(logo),
        ARBOT_INVOICE_COLOUR="#0a7f5c",
        ARBOT_INVOICE_FIELDS=(
            "terms, patient_id,service_codes,doctor;"
            " medicare=terms,patient_id,service_codes ; self_pay=terms;workers_comp="
        ),
    )

    assert setup.practice == Practice(
        "Clínica del Sol",
        ("12 Sun Road", "Suite 4", "Austin, TX 78701"),
        "+1 512 555 0100",
        "74-1234567",
    )
    assert (setup.logo, setup.colour) == (logo, (0x0A, 0x7F, 0x5C))
    fields = setup.fields
    assert fields.for_class("commercial") == {"terms", "patient_id", "service_codes", "doctor"}
    assert fields.for_class("medicare") == {"terms", "patient_id", "service_codes"}
    assert fields.for_class("self_pay") == {"terms"}
    assert fields.for_class("workers_comp") == frozenset()  # named with none: none


def test_a_png_logo_and_the_location_field_are_accepted(tmp_path: Path) -> None:
    logo = tmp_path / "logo.png"
    Image.new("RGBA", (30, 30)).save(logo, "PNG")

    setup = setup_of(ARBOT_INVOICE_LOGO=str(logo), ARBOT_INVOICE_FIELDS="location")

    assert setup.logo == logo
    assert setup.fields.for_class("self_pay") == {"location"}


@pytest.mark.parametrize(
    ("env", "message"),
    [
        (
            {"ARBOT_INVOICE_COLOUR": "navy"},
            "ARBOT_INVOICE_COLOUR: 'navy' is not a colour: write it as #RRGGBB, e.g. #1F3A5F",
        ),
        (
            {"ARBOT_INVOICE_COLOUR": "#12345"},
            "ARBOT_INVOICE_COLOUR: '#12345' is not a colour: write it as #RRGGBB, e.g. #1F3A5F",
        ),
        (
            {"ARBOT_INVOICE_FIELDS": "terms,diagnosis"},
            "ARBOT_INVOICE_FIELDS: 'diagnosis' is not an invoice field: "
            "use terms, patient_id, service_codes, doctor, location",
        ),
        (
            {"ARBOT_INVOICE_FIELDS": "terms;medicare=terms,patient-id"},
            "ARBOT_INVOICE_FIELDS: 'patient-id' is not an invoice field: "
            "use terms, patient_id, service_codes, doctor, location",
        ),
        (
            {"ARBOT_INVOICE_FIELDS": "medicare=terms=doctor"},
            "ARBOT_INVOICE_FIELDS: 'medicare=terms=doctor' has more than one '=': "
            "write class=field,field",
        ),
        (
            {"ARBOT_INVOICE_FIELDS": "self pay=terms"},
            "ARBOT_INVOICE_FIELDS: 'self pay' is not a financial class: "
            "use 1-30 letters, digits, _ or - (self_pay, north)",
        ),
        (
            {"ARBOT_INVOICE_FIELDS": "=terms"},
            "ARBOT_INVOICE_FIELDS: '' is not a financial class: "
            "use 1-30 letters, digits, _ or - (self_pay, north)",
        ),
        (
            {"ARBOT_INVOICE_FIELDS": "medicare=terms;Medicare=doctor"},
            "ARBOT_INVOICE_FIELDS: the financial class medicare is named twice",
        ),
        (
            {"ARBOT_INVOICE_FIELDS": "terms;doctor"},
            "ARBOT_INVOICE_FIELDS: 'doctor' lists the fields for every class a second time: "
            "name them once, then class=field,field for a class that needs others",
        ),
    ],
)
def test_nonsense_is_refused_naming_the_variable(env: dict[str, str], message: str) -> None:
    with pytest.raises(ValidationError) as refused:
        setup_of(**env)
    assert str(refused.value) == message


def test_a_logo_that_cannot_be_printed_is_refused_naming_the_variable(tmp_path: Path) -> None:
    missing = tmp_path / "missing.png"
    text = tmp_path / "logo.png"
    text.write_text("not an image")
    gif = tmp_path / "logo.gif"
    Image.new("RGB", (10, 10)).save(gif, "GIF")
    cut = tmp_path / "cut.png"
    Image.new("RGB", (50, 20), (1, 2, 3)).save(cut, "PNG")
    cut.write_bytes(cut.read_bytes()[:60])

    refused = {}
    for path in (missing, text, gif, cut, tmp_path):
        with pytest.raises(ValidationError) as caught:
            setup_of(ARBOT_INVOICE_LOGO=str(path))
        refused[path] = str(caught.value)

    assert refused == {
        missing: f"ARBOT_INVOICE_LOGO: there is no file {missing}: name a PNG or JPEG file",
        text: f"ARBOT_INVOICE_LOGO: {text} is not a PNG or JPEG image",
        gif: f"ARBOT_INVOICE_LOGO: {gif} is not a PNG or JPEG image",
        cut: f"ARBOT_INVOICE_LOGO: {cut} cannot be read: Truncated File Read",
        tmp_path: f"ARBOT_INVOICE_LOGO: {tmp_path} is a folder: name a PNG or JPEG file",
    }
