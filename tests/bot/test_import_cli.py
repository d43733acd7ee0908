"""``arbot import`` as an operator runs it: the summary, the reject report beside the
file, JSON output, exit status 0 / 1 / 2 (AR-098, AR-112, AR-172, AR-173)."""

from __future__ import annotations

import csv
import json
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
