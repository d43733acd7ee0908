"""Database-side guards of the ledger, and the rows every new installation starts with.

Every database refuses: updating or deleting a posted row, and posting into a closed
fiscal period. PostgreSQL also checks at COMMIT (deferred constraint triggers) that
every entry's lines sum to zero per currency and that every match of allocations
nets to zero. SQLite cannot defer a trigger; there the code and the test suite's
whole-ledger check carry that rule.
"""

from __future__ import annotations

from typing import Any

# Never updated or deleted once written: entries and their lines, items, and what
# happened to each item since (applications, allocations, disputes: AR-090), the audit.
IMMUTABLE = (
    "journal_entry",
    "journal_line",
    "ar_item",
    "application",
    "allocation",
    "item_dispute",
    "audit_log",
)

_CLOSED = (
    "EXISTS (SELECT 1 FROM fiscal_period p WHERE p.closed_at IS NOT NULL "
    "AND NEW.effective_day BETWEEN p.start_day AND p.end_day)"
)


def _sqlite() -> list[str]:
    statements = []
    for table in IMMUTABLE:
        for action in ("UPDATE", "DELETE"):
            statements.append(
                f"CREATE TRIGGER {table}_no_{action.lower()} BEFORE {action} ON {table} "
                f"BEGIN SELECT RAISE(ABORT, 'immutable: {table} rows are never changed'); END"
            )
    statements.append(
        f"CREATE TRIGGER journal_entry_open_period BEFORE INSERT ON journal_entry "
        f"WHEN {_CLOSED} BEGIN SELECT RAISE(ABORT, 'period_closed'); END"
    )
    return statements


def _postgres() -> list[str]:
    statements = [
        """CREATE FUNCTION arbot_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          RAISE EXCEPTION 'immutable: % rows are never changed', TG_TABLE_NAME
            USING ERRCODE = 'integrity_constraint_violation';
        END $$""",
        f"""CREATE FUNCTION arbot_open_period() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          IF {_CLOSED} THEN
            RAISE EXCEPTION 'period_closed: day % is in a closed fiscal period', NEW.effective_day
              USING ERRCODE = 'integrity_constraint_violation';
          END IF;
          RETURN NEW;
        END $$""",
        """CREATE FUNCTION arbot_entry_balanced() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          IF EXISTS (SELECT 1 FROM journal_line WHERE entry_id = NEW.entry_id
                     GROUP BY currency HAVING SUM(amount_minor) <> 0) THEN
            RAISE EXCEPTION 'unbalanced_entry: journal entry % does not sum to zero', NEW.entry_id
              USING ERRCODE = 'check_violation';
          END IF;
          RETURN NULL;
        END $$""",
        """CREATE FUNCTION arbot_entry_complete() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          IF (SELECT COUNT(*) FROM journal_line WHERE entry_id = NEW.id) <> NEW.line_count THEN
            RAISE EXCEPTION 'unbalanced_entry: journal entry % lacks its lines', NEW.id
              USING ERRCODE = 'check_violation';
          END IF;
          RETURN NULL;
        END $$""",
        """CREATE FUNCTION arbot_match_balanced() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          IF (SELECT SUM(amount_minor) FROM allocation WHERE application_id = NEW.application_id
              AND match_no = NEW.match_no) <> 0 THEN
            RAISE EXCEPTION 'unbalanced_match: application % match % does not net to zero',
              NEW.application_id, NEW.match_no USING ERRCODE = 'check_violation';
          END IF;
          RETURN NULL;
        END $$""",
        "CREATE TRIGGER journal_entry_open_period BEFORE INSERT ON journal_entry "
        "FOR EACH ROW EXECUTE FUNCTION arbot_open_period()",
        "CREATE CONSTRAINT TRIGGER journal_line_balanced AFTER INSERT ON journal_line "
        "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION arbot_entry_balanced()",
        "CREATE CONSTRAINT TRIGGER journal_entry_complete AFTER INSERT ON journal_entry "
        "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION arbot_entry_complete()",
        "CREATE CONSTRAINT TRIGGER allocation_balanced AFTER INSERT ON allocation "
        "DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION arbot_match_balanced()",
    ]
    for table in IMMUTABLE:
        statements.append(
            f"CREATE TRIGGER {table}_immutable BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION arbot_immutable()"
        )
    return statements


def constraints_sql(dialect: str) -> list[str]:
    if dialect == "postgresql":
        return _postgres()
    if dialect == "sqlite":
        return _sqlite()
    raise RuntimeError(f"arbot supports SQLite and PostgreSQL, not {dialect}")


def seed_rows() -> dict[str, list[dict[str, Any]]]:
    """The starting chart of accounts, payment terms, entry types and reason codes."""

    def gl(
        code: str, name: str, kind: str, role: str, category: str | None = None
    ) -> dict[str, Any]:
        return {
            "code": code,
            "name": name,
            "kind": kind,
            "role": role,
            "category": category,
            "active": True,
        }

    def kind(code: str, k: str, description: str) -> dict[str, Any]:
        return {"code": code, "kind": k, "description": description, "active": True}

    def reason(code: str, description: str, k: str | None = None) -> dict[str, Any]:
        return {"code": code, "description": description, "kind": k, "active": True}

    return {
        "gl_account": [
            gl("1000", "Cash - main bank", "asset", "cash"),
            gl("1010", "Cash - card gateway clearing", "asset", "cash"),
            gl("1100", "Accounts receivable - control", "asset", "ar_control"),
            gl("2050", "Unapplied cash (unidentified receipts)", "liability", "unapplied_cash"),
            gl("2100", "Patient prepayments", "liability", "patient_prepayments"),
            gl("2200", "Refunds payable", "liability", "refunds_payable"),
            gl("4000", "Revenue - consultations", "revenue", "revenue", "consultation"),
            gl("4010", "Revenue - imaging", "revenue", "revenue", "imaging"),
            gl("4020", "Revenue - laboratory", "revenue", "revenue", "lab"),
            gl("4030", "Revenue - procedures", "revenue", "revenue", "procedure"),
            gl("4040", "Revenue - materials", "revenue", "revenue", "material"),
            gl("4050", "Revenue - medication", "revenue", "revenue", "medication"),
            gl("4090", "Revenue - other services", "revenue", "revenue", "other"),
            gl("4100", "Finance charges", "revenue", "finance_charge_income"),
            gl("4800", "Contractual allowances", "contra_revenue", "contractual_allowance"),
            gl("4900", "Discounts", "contra_revenue", "discounts"),
            gl(
                "6100",
                "Write-off expense (administrative, small balance)",
                "expense",
                "write_off_expense",
            ),
            gl("6200", "Bad-debt expense", "expense", "bad_debt_expense"),
        ],
        "payment_terms": [
            {"code": "DUE", "description": "Due on receipt", "net_days": 0},
            {"code": "NET15", "description": "Net 15 days", "net_days": 15},
            {"code": "NET30", "description": "Net 30 days", "net_days": 30},
            {"code": "NET60", "description": "Net 60 days", "net_days": 60},
        ],
        "entry_type": [
            kind("CHARGE", "charge", "Charge / invoice"),
            kind("DEBIT_MEMO", "debit_memo", "Debit memo"),
            kind("CREDIT_MEMO", "credit_memo", "Credit memo"),
            kind("PAYMENT", "payment", "Payment received"),
            kind("PREPAYMENT", "prepayment", "Prepayment received"),
            kind("ADJUSTMENT", "adjustment", "Adjustment"),
            kind("DISCOUNT", "discount", "Discount"),
            kind("CONTRACTUAL", "contractual", "Contractual allowance"),
            kind("WO_ADMIN", "write_off", "Administrative write-off"),
            kind("WO_SMALL", "write_off", "Small-balance write-off"),
            kind("WO_BAD_DEBT", "bad_debt", "Transfer to bad debt"),
            kind("REINSTATE", "reinstatement", "Bad-debt reinstatement"),
            kind("REFUND", "refund", "Refund"),
            kind("CHARGEBACK", "chargeback", "Chargeback"),
            kind("PAYMENT_REVERSAL", "payment_reversal", "Payment reversal"),
            kind("FINANCE_CHARGE", "finance_charge", "Finance charge"),
            kind("TRANSFER", "transfer", "Transfer between accounts or payers"),
            kind("REVERSAL", "reversal", "Reversal of an entry"),
        ],
        "reason_code": [
            reason("ADMIN", "Administrative decision", "write_off"),
            reason("SMALL_BALANCE", "Balance within small-balance tolerance", "write_off"),
            reason("UNCOLLECTIBLE", "Judged uncollectible", "bad_debt"),
            reason("CHARITY", "Charity care / hardship"),
            reason("PROMPT_PAY", "Prompt-payment discount", "discount"),
            reason("KEYING_ERROR", "Keying error"),
            reason("NSF", "Returned cheque / insufficient funds", "payment_reversal"),
            reason("CARD_DISPUTE", "Card payment disputed", "payment_reversal"),
            reason("PRIOR_PERIOD", "Correction of a prior period"),
            reason("CREDIT_BALANCE", "Refund of a credit balance", "refund"),
            reason("LATE_PAYMENT", "Payment received after write-off", "reinstatement"),
            reason("OTHER", "Other (see note)"),
        ],
    }
