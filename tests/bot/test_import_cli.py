"""``arbot import`` (the billing interface, AR-206) as an operator runs it: the summary,
the reject report beside the file, JSON output, exit status 0 / 1 / 2 (AR-098, AR-112,
AR-172, AR-173)."""

from __future__ import annotations

import csv
import json
from datetime import date
from pathlib import Path

import pytest

from bot.cli import main
from bot.demo import write_demo_files


@pytest.fixture
def clinic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'arbot.db'}")
    assert main(["db", "upgrade"]) == 0
    files = write_demo_files(tmp_path / "files", patients=12)
    for kind in ("services", "patients"):
        assert main(["import", kind, str(files.folder / f"{kind}.csv")]) == 0
    return files.folder


def write(path: Path, rows: list[list[str]]) -> Path:
    with path.open("w", newline="") as handle:
        csv.writer(handle).writerows(rows)
    return path


HEADER = ["external_id", "account_number", "amount", "currency", "method", "received_date"]


def test_demo_files_import_cleanly_and_twice_change_nothing(
    clinic: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    assert main(["import", "charges", str(clinic / "charges.csv")]) == 0
    first = capsys.readouterr().out
    assert "rejected:          0" in first and "written now:       0" not in first
    control = (clinic / "payments.control").read_text().split()
    assert main(["import", "payments", str(clinic / "payments.csv"), *control]) == 0
    capsys.readouterr()
    assert main(["import", "charges", str(clinic / "charges.csv"), "--format", "json"]) == 0
    again = json.loads(capsys.readouterr().out)
    assert again["written"] == 0 and again["already_imported"] == again["rows"] > 0


def test_bad_rows_go_to_the_reject_report_and_exit_1(
    clinic: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(clinic / "pay.csv", [
        HEADER,
        ["p1", "D7-00001", "10.00", "USD", "cash", "2026-01-05"],
        ["p2", "D7-99999", "10.00", "USD", "cash", "2026-01-05"],
        ["p3", "D7-00002", "ten", "USD", "cash", "2026-01-05"],
    ])  # fmt: skip
    capsys.readouterr()
    code = main(["import", "payments", str(path), "--control-rows", "3",
                 "--control-amount", "20.00"])  # fmt: skip
    out = capsys.readouterr().out
    assert code == 1
    assert "written now:       1" in out and "rejected:          2" in out
    with (clinic / "pay.rejects.csv").open() as handle:
        assert list(csv.reader(handle)) == [
            ["row", "key", "reason"],
            ["3", "p2", "there is no account D7-99999 (AR-094)"],
            ["4", "p3", "'ten' is not an amount"],
        ]


def test_control_totals_that_disagree_refuse_the_batch_with_exit_2(
    clinic: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(clinic / "pay.csv", [HEADER, ["p1", "D7-00001", "10.00", "USD", "cash",
                                               "2026-01-05"]])  # fmt: skip
    capsys.readouterr()
    code = main(["import", "payments", str(path), "--control-rows", "1",
                 "--control-amount", "11.00", "--format", "json"])  # fmt: skip
    captured = capsys.readouterr()
    assert code == 2
    report = json.loads(captured.out)
    assert report["written"] == 0
    assert report["refused"] == (
        "control totals disagree: the batch says 11.00, arbot counted 10.00; nothing was imported"
    )
    assert "control totals disagree" in captured.err
    assert main(["import", "payments", str(path)]) == 2


def test_a_json_batch_carries_its_control_totals(
    clinic: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """AR-040, AR-065: the same import takes JSON records, control totals inside."""
    record = {"external_id": "j1", "account_number": "D7-00001", "amount": "12.50",
              "currency": "USD", "method": "card", "received_date": "2026-01-05"}  # fmt: skip
    path = clinic / "pay.json"
    path.write_text(json.dumps({"control": {"rows": 1, "amount": "12.50"}, "rows": [record]}))
    capsys.readouterr()
    assert main(["import", "payments", str(path), "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["written"] == 1
    path.write_text(json.dumps({"control": {"rows": 2, "amount": "12.50"}, "rows": [record]}))
    assert main(["import", "payments", str(path)]) == 2
    path.write_text(json.dumps([record]))
    assert main(["import", "payments", str(path)]) == 2  # a payment batch needs its totals
    assert "needs its control totals" in capsys.readouterr().err


def _billed_to_a_payer(clinic: Path) -> tuple[str, int]:
    """A charge of the demo's billed to a payer (a patient's financial class): its
    transaction number and what is open of it."""
    import sqlite3

    from core.ledger.model import entry_number

    path = clinic.parent / "arbot.db"
    with sqlite3.connect(path) as conn:
        entry_id, open_minor = conn.execute(
            "SELECT entry_id, open_minor FROM ar_item WHERE payer NOT IN ('self', 'self_pay')"
            " AND open_minor > 1000 ORDER BY id LIMIT 1"
        ).fetchone()
    return entry_number(entry_id), open_minor


def test_a_payers_835_is_posted_once_and_a_broken_one_refused(
    clinic: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """AR-068: ``arbot import remittance FILE.835``: an ERA paying a claim, less a
    contractual allowance; again, nothing more; a file that is no 835, exit 2."""
    assert main(["import", "charges", str(clinic / "charges.csv")]) == 0
    claim, open_minor = _billed_to_a_payer(clinic)
    paid = f"{(open_minor - 1000) / 100:.2f}"
    era = clinic / "medicare.835"
    era.write_text(
        "ISA*00*          *00*          *ZZ*PAYER          *ZZ*CLINIC         "
        "*260310*1200*^*00501*000000101*0*P*:~\n"
        f"ST*835*0001~BPR*I*{paid}*C*CHK************20260310~TRN*1*CHK7781*1~"
        f"N1*PR*MEDICARE~CLP*{claim}*1*{open_minor / 100:.2f}*{paid}*0*MB~CAS*CO*45*10.00~"
        "SE*8*0001~"
    )
    capsys.readouterr()

    assert main(["import", "remittance", str(era)]) == 0
    out = capsys.readouterr().out
    assert "remittance: 1 rows read" in out and "written now:       1" in out
    assert f"batch amount:      {paid} USD" in out
    assert main(["import", "remittance", str(era), "--format", "json"]) == 0
    again = json.loads(capsys.readouterr().out)
    assert (again["written"], again["already_imported"]) == (0, 1)
    assert main(["report", "journal", "--from", "2026-03-10", "--to", "2026-03-10",
                 "--format", "csv"]) == 0  # fmt: skip
    rows = list(csv.DictReader(capsys.readouterr().out.splitlines()))
    posted = [r for r in rows if r["actor"] == "system:import-remittance"]
    assert sorted((r["entry_type"], r["method"], r["reference"], r["reason"], r["amount"])
                  for r in posted) == [
        ("CONTRACTUAL", "", "", "ERA", "-10.00"),
        ("PAYMENT", "check", "CHK7781", "", f"-{paid}"),
    ]  # fmt: skip

    broken = clinic / "broken.835"
    broken.write_text("external_id,account_number\n")
    assert main(["import", "remittance", str(broken)]) == 2
    assert "this is not an X12 file" in capsys.readouterr().err
    assert main(["import", "remittance", str(era), "--payer", "D7-99999"]) == 2
    assert "there is no payer account D7-99999" in capsys.readouterr().err


def test_rejected_rows_wait_in_the_queue_and_the_error_report(
    clinic: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """AR-067, AR-174, AR-178: ``arbot import`` queues its rejects (``/ar rejects``
    works them); ``arbot report rejects`` lists them, ``arbot report errors`` too."""
    path = write(clinic / "pay.csv", [
        HEADER,
        ["p1", "D7-00001", "10.00", "USD", "cash", "2026-01-05"],
        ["p2", "D7-99999", "10.00", "USD", "cash", "2026-01-05"],
    ])  # fmt: skip
    assert main(["import", "payments", str(path), "--control-rows", "2",
                 "--control-amount", "20.00"]) == 1  # fmt: skip
    capsys.readouterr()

    assert main(["report", "rejects"]) == 0
    listed = capsys.readouterr().out
    assert "Rejected import rows: 1 open" in listed
    assert "payments   pay.csv#" in listed and " row 3 (p2)" in listed
    assert "there is no account D7-99999 (AR-094)" in listed
    assert main(["report", "rejects", "--format", "csv"]) == 0
    rows = list(csv.DictReader(capsys.readouterr().out.splitlines()))
    assert [(r["kind"], r["batch"][:8], r["row"], r["key"], r["status"]) for r in rows] == [
        ("payments", "pay.csv#", "3", "p2", "open")
    ]
    today = date.today().isoformat()
    assert main(["report", "errors", "--from", today, "--to", today]) == 1
    errors = capsys.readouterr().out
    assert "Failed runs: 0" in errors and "Import rows rejected: 1" in errors


def test_another_file_of_the_same_name_is_another_batch(
    clinic: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Review findings: a daily export of a fixed name closed the last file's rejects as
    if its rows had gone in, and lost a reject whose row number was closed before."""
    path = write(clinic / "pay.csv", [
        HEADER,
        ["p1", "D7-00001", "10.00", "USD", "cash", "2026-01-05"],
        ["p2", "D7-99999", "10.00", "USD", "cash", "2026-01-05"],
    ])  # fmt: skip
    assert main(["import", "payments", str(path), "--control-rows", "2",
                 "--control-amount", "20.00"]) == 1  # fmt: skip
    write(path, [
        HEADER,
        ["q1", "D7-00001", "10.00", "USD", "cash", "2026-01-06"],
        ["q2", "D7-00002", "10.00", "USD", "cash", "2026-01-06"],
    ])  # fmt: skip
    assert main(["import", "payments", str(path), "--control-rows", "2",
                 "--control-amount", "20.00"]) == 0  # fmt: skip
    capsys.readouterr()

    assert main(["report", "rejects", "--format", "csv"]) == 0
    rows = list(csv.DictReader(capsys.readouterr().out.splitlines()))
    assert [(r["key"], r["status"]) for r in rows] == [("p2", "open")]
    assert rows[0]["batch"].startswith("pay.csv#")
