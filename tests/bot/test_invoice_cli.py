"""``arbot invoice pdf``: a billed transaction's invoices written as PDF files (BI-05,
BI-14), one for each account it billed; what cannot be invoiced exits 2 with the reason
on stderr and writes nothing. In-process through ``bot.cli.main``, run in a thread (it
runs its own event loop) against the test's database."""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass
from pathlib import Path

import pytest

from bot.cli import main
from core.db import Database
from core.services.payments import record_payment
from tests.bot.invoice_helpers import lines_of, text_of
from tests.core.billing.invoice_helpers import DAY, person, split_visit
from tests.core.helpers import ADMIN, usd


@dataclass(frozen=True, slots=True)
class Run:
    code: int
    out: str
    err: str
    files: list[str]


@pytest.fixture
def here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty folder the command runs in."""
    folder = tmp_path / "invoices"
    folder.mkdir()
    monkeypatch.chdir(folder)
    for name in ("ARBOT_INVOICE_LOGO", "ARBOT_INVOICE_COLOUR", "ARBOT_INVOICE_FIELDS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ARBOT_PRACTICE_NAME", "Clínica del Sol")
    return folder


async def arbot(
    db: Database,
    here: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    *argv: str,
) -> Run:
    monkeypatch.setenv("DATABASE_URL", db.url)
    capsys.readouterr()
    code = await asyncio.to_thread(main, list(argv))
    captured = capsys.readouterr()
    return Run(code, captured.out, captured.err, sorted(os.listdir(here)))


async def test_a_split_visit_writes_an_invoice_for_each_account_it_billed(
    db: Database, here: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    visit = await split_visit(db)
    ana, acme = visit.ana.number, visit.acme.number

    run = await arbot(db, here, monkeypatch, capsys, "invoice", "pdf", visit.number)

    assert (run.code, run.err) == (0, "")
    assert run.out == (
        f"{visit.number} billed 2 accounts: one invoice for each\n"
        f"invoice-{visit.number}-{ana}.pdf: {ana} Ana López, 184.00 billed, 134.00 open\n"
        f"invoice-{visit.number}-{acme}.pdf: {acme} Acme Health, 96.00 billed, 96.00 open\n"
    )
    assert run.files == [f"invoice-{visit.number}-{ana}.pdf", f"invoice-{visit.number}-{acme}.pdf"]
    hers = lines_of((here / run.files[0]).read_bytes())
    theirs = lines_of((here / run.files[1]).read_bytes())
    assert hers[0].startswith("Clínica del Sol")
    assert "Ana López" in hers
    assert "Amount open $134.00" in hers
    assert "Acme Health" in theirs
    assert "Jun 1, 2026 Chest X-ray 1 $120.00 $120.00 $96.00" in theirs


async def test_one_accounts_invoice_in_spanish_to_a_named_file(
    db: Database, here: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    visit = await split_visit(db)
    monkeypatch.setenv("ARBOT_INVOICE_FIELDS", "terms;medicare=patient_id,service_codes")
    argv = ["invoice", "pdf", visit.number.lower(), "--account", visit.acme.number]

    run = await arbot(db, here, monkeypatch, capsys, *argv, "--language", "es", "--out", "a.pdf")

    assert (run.code, run.files) == (0, ["a.pdf"])
    assert run.out == f"a.pdf: {visit.acme.number} Acme Health, 96.00 billed, 96.00 open\n"
    text = text_of((here / "a.pdf").read_bytes())
    assert "Importe pendiente $96.00" in text
    assert f"Paciente: {visit.ana.number} Ana López" in text  # Medicare's own fields
    assert "XRAY" in text
    assert "Condiciones de pago" not in text


async def test_what_cannot_be_invoiced_exits_2_and_writes_nothing(
    db: Database, here: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    visit = await split_visit(db)
    eva = await person(db, "Ruiz", "Eva")
    paid = await record_payment(db, ADMIN, account_id=eva.id, amount=usd("10.00"),
                                received_on=DAY, key="p", method="cash")  # fmt: skip
    number = paid.entry.number
    refused = {
        "payment": (number,),
        "unknown": ("T99999999",),
        "not a number": ("12",),
        "not billed": (visit.number, "--account", eva.number),
        "two files in one": (visit.number, "--out", "both.pdf"),
    }

    runs = {
        why: await arbot(db, here, monkeypatch, capsys, "invoice", "pdf", *argv)
        for why, argv in refused.items()
    }

    assert {why: (r.code, r.out, r.files) for why, r in runs.items()} == {
        why: (2, "", []) for why in refused
    }
    assert runs["payment"].err == (
        f"arbot: {number} is a payment, which bills nothing: only a charge, a debit memo, "
        "a finance charge or a chargeback has an invoice behind it\n"
    )
    assert runs["unknown"].err == "arbot: there is no entry T99999999\n"
    assert runs["not a number"].err == (
        "arbot: '12' is not a transaction number: write it like T00000012\n"
    )
    assert runs["not billed"].err == (
        f"arbot: {visit.number} billed nothing to {eva.number}; "
        f"it billed {visit.ana.number}, {visit.acme.number}\n"
    )
    assert runs["two files in one"].err == (
        f"arbot: {visit.number} billed 2 accounts ({visit.ana.number}, {visit.acme.number}): "
        "name one with --account to write its invoice to --out\n"
    )


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        (
            "ARBOT_INVOICE_FIELDS",
            "terms;medicare=diagnosis",
            "arbot: ARBOT_INVOICE_FIELDS: 'diagnosis' is not an invoice field: "
            "use terms, patient_id, service_codes, doctor, location\n",
        ),
        (
            "ARBOT_INVOICE_COLOUR",
            "blue",
            "arbot: ARBOT_INVOICE_COLOUR: 'blue' is not a colour: "
            "write it as #RRGGBB, e.g. #1F3A5F\n",
        ),
        (
            "ARBOT_INVOICE_LOGO",
            "/nowhere/logo.png",
            "arbot: ARBOT_INVOICE_LOGO: there is no file /nowhere/logo.png: "
            "name a PNG or JPEG file\n",
        ),
    ],
)
async def test_a_wrong_setting_stops_the_command_before_anything_is_written(
    db: Database,
    here: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    name: str,
    value: str,
    message: str,
) -> None:
    visit = await split_visit(db)
    monkeypatch.setenv(name, value)

    run = await arbot(db, here, monkeypatch, capsys, "invoice", "pdf", visit.number)

    assert (run.code, run.out, run.err, run.files) == (2, "", message, [])
