"""``arbot`` as an operator runs it: migrate, load the demo clinic, read the ATB in each
format, verify the audit trail. In-process through ``bot.cli.main`` (which runs its own
event loop, so these tests are plain functions) against a SQLite file per test.
"""

from __future__ import annotations

import csv
import io
import json
import shutil
import sqlite3
from collections.abc import Callable
from contextlib import redirect_stdout
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from bot.cli import main
from core.clock import SystemClock, today
from core.ledger.accounts import sort_name

SEVEN = ["0-30", "31-60", "61-90", "91-120", "121-150", "151-180", "over 180"]
AS_OF = today(SystemClock()).isoformat()  # the demo's dates are relative to today


@dataclass(frozen=True, slots=True)
class Demo:
    path: Path
    upgrade_out: str
    load_out: str


@dataclass(frozen=True, slots=True)
class Run:
    code: int
    out: str
    err: str


def no_floats(text: str) -> Any:
    raise AssertionError(f"the JSON carries a float: {text}")


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Demo:
    """One demo clinic of 20 patients, built once; each test works on its own copy."""
    path = tmp_path_factory.mktemp("cli") / "arbot.db"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DATABASE_URL", f"sqlite+aiosqlite:///{path}")
        mp.delenv("ARBOT_CURRENCY", raising=False)
        upgrade, load = io.StringIO(), io.StringIO()
        with redirect_stdout(upgrade):
            assert main(["db", "upgrade"]) == 0
        with redirect_stdout(load):
            assert main(["demo", "load", "--patients", "20"]) == 0
    return Demo(path, upgrade.getvalue(), load.getvalue())


@pytest.fixture
def arbot(
    demo: Demo,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> Callable[..., Run]:
    path = tmp_path / "arbot.db"
    shutil.copy(demo.path, path)
    monkeypatch.setenv("DATABASE_URL", f"sqlite+aiosqlite:///{path}")
    monkeypatch.delenv("ARBOT_CURRENCY", raising=False)
    capsys.readouterr()

    def run(*argv: str) -> Run:
        code = main(list(argv))
        captured = capsys.readouterr()
        return Run(code, captured.out, captured.err)

    return run


def atb_json(arbot: Callable[..., Run], *options: str) -> Any:
    result = arbot("report", "atb", "--as-of", AS_OF, "--format", "json", *options)
    assert (result.code, result.err) == (0, "")
    return json.loads(result.out, parse_float=no_floats)


def test_upgrade_and_demo_load_say_what_they_did(demo: Demo) -> None:
    """AR-183: the two set-up steps of ``make demo`` report success."""
    assert demo.upgrade_out == "database is up to date\n"
    assert demo.load_out.startswith("demo clinic loaded: 20 patients, ")


def test_json_total_is_the_sum_of_the_accounts(arbot: Callable[..., Run]) -> None:
    """AR-156, AR-183: the JSON contract; its total adds up across accounts and buckets."""
    body = atb_json(arbot)

    assert set(body) == {"as_of", "currency", "basis", "buckets", "total", "accounts"}
    assert (body["as_of"], body["currency"], body["basis"]) == (AS_OF, "USD", "service")
    assert [b["label"] for b in body["buckets"]] == SEVEN
    total = Decimal(body["total"])
    assert total > 0 and body["accounts"]
    assert sum(Decimal(a["total"]) for a in body["accounts"]) == total
    assert sum(Decimal(b["amount"]) for b in body["buckets"]) == total
    for account in body["accounts"]:
        assert sum(Decimal(v) for v in account["buckets"]) == Decimal(account["total"])
    totals = [Decimal(a["total"]) for a in body["accounts"]]
    assert totals == sorted(totals, reverse=True)


def test_csv_has_the_documented_columns_and_the_same_total(arbot: Callable[..., Run]) -> None:
    """AR-156: ``account_number,account_name,group,<labels>,total``, one row per account."""
    body = atb_json(arbot)
    result = arbot("report", "atb", "--as-of", AS_OF, "--format", "csv")

    header, *rows = list(csv.reader(io.StringIO(result.out)))
    assert result.code == 0
    assert header == ["account_number", "account_name", "group", *SEVEN, "total"]
    assert [r[0] for r in rows] == [a["number"] for a in body["accounts"]]
    assert sum(Decimal(r[-1]) for r in rows) == Decimal(body["total"])


def test_text_report_shows_buckets_total_and_top_accounts(arbot: Callable[..., Run]) -> None:
    """AR-183, AR-186: the table a manager reads, with the same total as the JSON."""
    body = atb_json(arbot)
    result = arbot("report", "atb", "--as-of", AS_OF)

    lines = result.out.splitlines()
    assert result.code == 0
    assert lines[0].startswith("Aged trial balance as of ")
    assert lines[0].endswith("(USD, aged by service date)")
    assert [line.split()[0] for line in lines[3:9]] == SEVEN[:6]
    total = next(line for line in lines if line.startswith("Total")).split()
    assert total[1] == f"{Decimal(body['total']):,}"
    top = lines[lines.index("Top accounts by balance") + 1 :]
    assert [line.split()[0] for line in top] == [a["number"] for a in body["accounts"][:10]]


def test_by_financial_class_groups_add_up_to_the_total(arbot: Callable[..., Run]) -> None:
    """AR-188: ``--by financial_class`` adds per-class buckets that sum to the total."""
    body = atb_json(arbot, "--by", "financial_class")

    assert body["group_by"] == "financial_class"
    assert set(body["groups"]) <= {
        "self_pay",
        "commercial",
        "medicare",
        "medicaid",
        "workers_comp",
    }
    assert {a["group"] for a in body["accounts"]} == set(body["groups"])
    grouped = sum(Decimal(b["amount"]) for buckets in body["groups"].values() for b in buckets)
    assert grouped == Decimal(body["total"])


def test_custom_buckets_give_three_columns_and_the_same_total(arbot: Callable[..., Run]) -> None:
    """AR-192, AR-197: ``--buckets 30,60`` is 0-30, 31-60 and over 60."""
    default = atb_json(arbot)
    three = atb_json(arbot, "--buckets", "30,60")

    assert [b["label"] for b in three["buckets"]] == ["0-30", "31-60", "over 60"]
    assert three["total"] == default["total"]
    assert three["buckets"][:2] == default["buckets"][:2]


def test_the_offices_aging_rule_is_the_default_and_an_option_overrides_it(
    arbot: Callable[..., Run], monkeypatch: pytest.MonkeyPatch
) -> None:
    """AR-194: with ARBOT_AGING_BASIS=due and ARBOT_AGING_BUCKETS=30,60 the ATB ages
    by due date in three buckets without being asked; ``--basis``/``--buckets`` win."""
    by_due = atb_json(arbot, "--basis", "due", "--buckets", "30,60")
    by_service = atb_json(arbot, "--buckets", "30,60")
    assert by_due["buckets"] != by_service["buckets"]  # the demo has items not yet due

    monkeypatch.setenv("ARBOT_AGING_BASIS", "due")
    monkeypatch.setenv("ARBOT_AGING_BUCKETS", "30,60")
    office = atb_json(arbot)
    asked = atb_json(arbot, "--basis", "service")

    assert (office["basis"], office["buckets"]) == ("due", by_due["buckets"])
    assert (asked["basis"], asked["buckets"]) == ("service", by_service["buckets"])
    assert office["total"] == asked["total"]


def test_a_wrong_aging_rule_is_named_and_nothing_is_printed(
    arbot: Callable[..., Run], monkeypatch: pytest.MonkeyPatch
) -> None:
    """AR-194: an office rule that makes no sense says which variable and why."""
    monkeypatch.setenv("ARBOT_AGING_DISPUTED", "sometimes")
    result = arbot("report", "atb", "--format", "json")

    assert (result.code, result.out) == (2, "")
    assert result.err == (
        "arbot: ARBOT_AGING_DISPUTED: disputed items are either 'current' or 'aged' like the "
        "rest, not 'sometimes'\n"
    )


def test_detail_adds_each_accounts_payments_statements_and_insurer_bill(
    arbot: Callable[..., Run],
) -> None:
    """AR-184: ``--detail`` in every format; the CSV's first columns stay as they were."""
    plain = arbot("report", "atb", "--as-of", AS_OF, "--format", "csv").out.splitlines()
    rows = arbot("report", "atb", "--as-of", AS_OF, "--format", "csv", "--detail").out
    table = list(csv.reader(io.StringIO(rows)))
    assert [row[: len(table[0]) - 6] for row in table] == list(csv.reader(plain))
    assert table[0][-6:] == [
        "statements",
        "last_payment_date",
        "last_payment_amount",
        "period_payments",
        "period_credits",
        "billed_to_insurer",
    ]
    paid = [row for row in table[1:] if row[-5]]
    assert paid and all(row[-5] <= AS_OF for row in paid)  # the demo's patients pay
    body = atb_json(arbot, "--detail")
    assert body["period"] == {"from": AS_OF[:8] + "01", "to": AS_OF}
    assert {"last_payment", "period_payments", "billed_to_insurer"} <= set(body["accounts"][0])
    text = arbot("report", "atb", "--as-of", AS_OF, "--detail").out
    assert "Top accounts by balance (this period: " in text
    assert "; this period paid " in text


def test_bad_buckets_exit_2_with_a_message_and_no_report(arbot: Callable[..., Run]) -> None:
    """AR-197: ``--buckets 60,30`` is refused with a sentence on stderr, nothing on stdout."""
    result = arbot("report", "atb", "--buckets", "60,30", "--format", "json")

    assert result.code == 2
    assert result.out == ""
    assert result.err == "arbot: bucket bounds must increase and not be negative: 60,30\n"


def test_over_90_keeps_accounts_owing_something_older_than_90_days(
    arbot: Callable[..., Run],
) -> None:
    """AR-191: ``--over 90`` keeps exactly the accounts with money past 90 days."""
    everyone = atb_json(arbot)
    old = atb_json(arbot, "--over", "90")

    def past_90(account: dict[str, Any]) -> Decimal:
        return sum((Decimal(v) for v in account["buckets"][3:]), Decimal(0))

    expected = [a["number"] for a in everyone["accounts"] if past_90(a) > 0]
    assert expected and len(expected) < len(everyone["accounts"])
    assert [a["number"] for a in old["accounts"]] == expected


def test_sort_by_name_orders_by_surname(arbot: Callable[..., Run]) -> None:
    """AR-187: ``--sort name`` lists accounts by surname, then first name."""
    by_name = atb_json(arbot, "--sort", "name")
    keys = [sort_name(a["name"]) for a in by_name["accounts"]]

    assert keys == sorted(keys)
    assert len(by_name["accounts"]) == len(atb_json(arbot)["accounts"])


def test_another_currency_has_nothing_owed(arbot: Callable[..., Run]) -> None:
    """AR-183: the demo clinic bills in USD; a EUR report is empty, not an error."""
    body = atb_json(arbot, "--currency", "EUR")

    assert (body["currency"], body["total"], body["accounts"]) == ("EUR", "0.00", [])


def test_audit_verify_on_a_clean_database(arbot: Callable[..., Run]) -> None:
    """AR-012, BI-17: exit 0, the chain is intact and the ledger invariants hold."""
    result = arbot("audit", "verify")

    assert result.code == 0
    lines = result.out.splitlines()
    assert lines[0].startswith("audit trail intact: ") and lines[0].endswith(" records")
    assert int(lines[0].split()[3]) > 20  # an account opened per patient, a record per batch
    assert lines[1] == "ledger invariants hold: every entry balances, subledger = control"


def test_audit_verify_names_the_record_someone_edited(
    arbot: Callable[..., Run], tmp_path: Path
) -> None:
    """BI-17: with the file edited behind arbot's back, verify exits 1 and names record 5."""
    with sqlite3.connect(tmp_path / "arbot.db") as conn:
        conn.execute("DROP TRIGGER audit_log_no_update")
        conn.execute("UPDATE audit_log SET actor = 'nobody' WHERE seq = 5")
    conn.close()

    result = arbot("audit", "verify")

    assert result.code == 1
    assert "audit trail BROKEN at record 5: its content does not match its hash" in result.out


def test_loading_the_demo_twice_changes_nothing(arbot: Callable[..., Run]) -> None:
    """The demo loader is idempotent: a second run says so and posts nothing."""
    before = arbot("audit", "verify").out

    again = arbot("demo", "load", "--patients", "20")

    assert (again.code, again.out) == (0, "demo clinic already loaded; nothing to do\n")
    assert arbot("audit", "verify").out == before


def test_a_demo_patient_can_try_the_chat_without_any_keys(
    arbot: Callable[..., Run], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The README's try-it: `arbot chat --phone +15557000001`, then Ana's date of birth."""
    monkeypatch.setattr("sys.stdin", io.StringIO("hi\n1980-04-12\nbalance\npay\n1\n"))
    run = arbot("chat", "--phone", "+15557000001")
    assert run.code == 0, run.err
    assert "date of birth" in run.out and "Thank you, Ana. You are verified." in run.out
    assert "Account D7-00001: balance $" in run.out
    assert "1) Open the secure payment page: http://127.0.0.1:8080/pay/" in run.out
    monkeypatch.setattr("sys.stdin", io.StringIO("hola\n03/09/1975\nsaldo\n"))
    spanish = arbot("chat", "--phone", "+15557000002")
    assert "Gracias, María. Su identidad está verificada." in spanish.out


def test_the_journal_of_the_demo_s_year_adds_up_to_what_customers_owe(
    arbot: Callable[..., Run],
) -> None:
    """AR-113, AR-114, AR-128: ``arbot report journal``. Over the demo's whole history
    (its dates are within the last year), the net change in what customers owe is the
    ATB's total; the CSV's amounts add up to it too; a period ending before it starts is
    refused."""
    start = (date.fromisoformat(AS_OF) - timedelta(days=365)).isoformat()
    result = arbot("report", "journal", "--from", start, "--to", AS_OF, "--format", "json")
    assert (result.code, result.err) == (0, "")
    body = json.loads(result.out, parse_float=no_floats)
    as_csv = arbot("report", "journal", "--from", start, "--to", AS_OF, "--format", "csv")
    cash = arbot("report", "journal", "--from", start, "--to", AS_OF, "--only", "receipts")
    backwards = arbot("report", "journal", "--from", AS_OF, "--to", start)

    assert Decimal(body["net"]) == Decimal(atb_json(arbot)["total"])
    rows = list(csv.DictReader(io.StringIO(as_csv.out)))
    assert len(rows) == len(body["lines"]) > 0
    assert sum(Decimal(r["amount"]) for r in rows) == Decimal(body["net"])
    assert {r["group"] for r in rows} == {"charges", "receipts"}
    assert cash.out.splitlines()[0] == f"Journal {start} to {AS_OF} (USD, receipts only)"
    assert " CHARGE " not in cash.out and " PAYMENT " in cash.out
    assert backwards.code == 2 and "before it starts" in backwards.err


def test_the_status_report_adds_up_to_the_atb(arbot: Callable[..., Run]) -> None:
    """AR-160, AR-009: ``arbot report status``: every owing account once, the lines
    adding up to the ATB's total; the JSON's shape."""
    result = arbot("report", "status", "--as-of", AS_OF, "--format", "json")
    text = arbot("report", "status", "--as-of", AS_OF)

    assert (result.code, result.err) == (0, "")
    body = json.loads(result.out, parse_float=no_floats)
    assert set(body) == {"as_of", "currency", "lines", "total", "accounts", "disputed", "unbilled"}
    assert [line["key"] for line in body["lines"]] == [
        "active_ip", "active_op", "active", "plan", "collections", "bad_debt", "credit",
    ]  # fmt: skip
    assert Decimal(body["total"]) == Decimal(atb_json(arbot)["total"])
    assert sum(Decimal(line["amount"]) for line in body["lines"]) == Decimal(body["total"])
    # Each account that owes or is owed; one whose open items net to nothing is neither.
    owing = [a for a in atb_json(arbot)["accounts"] if Decimal(a["total"])]
    assert body["accounts"] == len(owing)
    assert text.out.startswith(f"A/R status on {AS_OF} (USD)\n")
    assert "Total (the ATB)" in text.out and body["total"] in text.out


def test_collections_say_what_was_paid_and_how_fast(arbot: Callable[..., Run]) -> None:
    """AR-152: ``arbot report collections`` over the demo's year, by payer: what its
    payments paid of charges, no more than the journal's receipts."""
    start = (date.fromisoformat(AS_OF) - timedelta(days=365)).isoformat()
    result = arbot("report", "collections", "--from", start, "--to", AS_OF, "--format", "json")
    text = arbot("report", "collections", "--from", start, "--to", AS_OF, "--by", "location")
    journal = arbot("report", "journal", "--from", start, "--to", AS_OF, "--format", "json")

    assert (result.code, result.err) == (0, "")
    body = json.loads(result.out, parse_float=no_floats)
    total = body["total"]
    assert Decimal(total["collected"]) > 0 and total["charges"] > 0
    assert sum(Decimal(ln["collected"]) for ln in body["lines"]) == Decimal(total["collected"])
    assert Decimal(total["average_days"]) >= 0 and set(total["within"]) == {"30", "60", "90"}
    received = json.loads(journal.out)["by_payer"]
    assert Decimal(total["collected"]) <= sum(Decimal(p["receipts"]) for p in received)
    assert text.out.startswith(f"Collections {start} to {AS_OF} (USD), by location\n")


def test_the_general_ledger_balances_and_its_ar_is_the_atb(arbot: Callable[..., Run]) -> None:
    """AR-122: ``arbot report gl``: every GL account before, during and after a period;
    debits equal credits, and A/R control after the period is the ATB's total."""
    start = (date.fromisoformat(AS_OF) - timedelta(days=30)).isoformat()
    result = arbot("report", "gl", "--from", start, "--to", AS_OF, "--format", "json")
    text = arbot("report", "gl", "--to", AS_OF)

    assert (result.code, result.err) == (0, "")
    body = json.loads(result.out, parse_float=no_floats)
    accounts = {a["code"]: a for a in body["accounts"]}
    assert body["balanced"] is True
    assert sum(Decimal(a["debits"]) for a in body["accounts"]) == sum(
        Decimal(a["credits"]) for a in body["accounts"]
    )
    assert Decimal(accounts["1100"]["after"]) == Decimal(atb_json(arbot)["total"])
    assert text.code == 0 and text.out.startswith(f"General ledger {AS_OF} (USD)\n")
    assert text.out.rstrip().endswith("The ledger balances.")


def test_services_billed_add_up_to_the_charges_billed(arbot: Callable[..., Run]) -> None:
    """BI-16: ``arbot report services`` over the demo's year: what the invoice lines
    billed is what the journal's charges billed; CSV with its documented columns."""
    start = (date.fromisoformat(AS_OF) - timedelta(days=365)).isoformat()
    body = json.loads(
        arbot("report", "services", "--from", start, "--to", AS_OF, "--format", "json").out
    )
    as_csv = arbot("report", "services", "--from", start, "--to", AS_OF, "--format", "csv")
    journal = json.loads(
        arbot("report", "journal", "--from", start, "--to", AS_OF, "--format", "json").out
    )

    charged = sum(Decimal(t["amount"]) for t in journal["by_type"] if t["entry_type"] == "CHARGE")
    assert Decimal(body["billed"]) == charged > 0
    header = as_csv.out.splitlines()[0]
    assert header == "key,description,lines,units,listed,billed,off_list,currency"


def test_the_gl_export_of_the_demo_balances_and_matches_the_gl(arbot: Callable[..., Run]) -> None:
    """AR-207: the demo's year as the GL's interface file; its debits are the GL's."""
    start = (date.fromisoformat(AS_OF) - timedelta(days=365)).isoformat()
    result = arbot("report", "gl-export", "--from", start, "--to", AS_OF)
    gl = arbot("report", "gl", "--from", start, "--to", AS_OF, "--format", "json")

    assert (result.code, result.err) == (0, "")
    rows = list(csv.DictReader(io.StringIO(result.out)))
    debits = sum(Decimal(r["debit"]) for r in rows)
    credits = sum(Decimal(r["credit"]) for r in rows)
    body = json.loads(gl.out, parse_float=no_floats)
    assert debits == credits == sum(Decimal(a["debits"]) for a in body["accounts"]) > 0
    detail = arbot("report", "gl-export", "--from", start, "--to", AS_OF, "--detail")
    assert detail.code == 0 and detail.out.startswith("entry,date,entry_type,line,gl_account")
