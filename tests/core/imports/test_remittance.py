"""A payer's X12 835 remittance advice posted to the ledger (AR-068): payments applied
to the claims' items, contractual allowances, the patient's share moved to the patient;
checked whole before anything is written, posted once however often it is run."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from core.auth import Actor
from core.billing.charges import ChargeLine
from core.billing.invoice import Split
from core.db import Database
from core.imports import BatchRefused
from core.imports.era import read_835
from core.imports.remittance import import_remittance
from core.ledger.accounts import Account
from core.ledger.invariants import check_invariants
from core.ledger.model import entry_number
from core.ledger.tables import journal_entry
from core.reports.journal import journal
from tests.core.billing.helpers import DAY, charge, service
from tests.core.helpers import balance_of, items_of, open_account, usd

IMPORTER = Actor.system("import-remittance")
ISA = (
    "ISA*00*          *00*          *ZZ*MEDICARE       *ZZ*CLINIC         "
    "*260310*1200*^*00501*000000101*0*P*:~"
)


@dataclass(frozen=True, slots=True)
class Clinic:
    ana: Account
    ben: Account
    medicare: Account
    ana_claim: str
    ben_claim: str


@pytest.fixture
async def clinic(db: Database) -> Clinic:
    """Ana's and Ben's visits, each 200.00 of which Medicare is billed 80% (160.00)."""
    await service(db, "CONS", "200.00", description="Consultation")
    ana = await open_account(db, "Ana López")
    ben = await open_account(db, "Ben Okafor")
    medicare = await open_account(db, "Medicare", customer_type="insurer")
    claims = []
    for n, patient in enumerate((ana, ben)):
        split = (Split(medicare.id, percent_bp=8_000),)
        invoice = await charge(db, patient.id, ChargeLine("CONS", splits=split), key=f"v{n}")
        claims.append(entry_number(invoice.entry.id))
    return Clinic(ana, ben, medicare, *claims)


def era(*claims: str, paid: str, plb: str = "", trace: str = "EFT0042") -> str:
    """An 835 from Medicare paying ``claims`` (each ``CLP*...~CAS*...~``) by ACH."""
    body = [
        ISA,
        "GS*HP*MEDICARE*CLINIC*20260310*1200*1*X*005010X221A1~",
        "ST*835*0001~",
        f"BPR*I*{paid}*C*ACH*CCP*01*999999999*DA*123456*1512345678**01*999988880*DA*98765*20260310~",
        f"TRN*1*{trace}*1512345678~",
        "DTM*405*20260310~",
        "N1*PR*MEDICARE~",
        "N1*PE*CITY CLINIC*XX*1234567893~",
        "LX*1~",
        *claims,
    ]
    if plb:
        body.append(f"PLB*1234567893*20261231*L6:INTEREST*{plb}~")
    body += ["SE*20*0001~", "GE*1*1~", "IEA*1*000000101~"]
    return "\n".join(body)


def claim(number: str, charged: str, paid: str, patient: str, *cas: str) -> str:
    segments = [f"CLP*{number}*1*{charged}*{paid}*{patient}*MB*94060555410000~"]
    segments += [f"CAS*{c}~" for c in cas]
    segments.append(f"SVC*HC:99213*{charged}*{paid}**1~")
    return "\n".join(segments)


async def run(db: Database, c: Clinic, text: str) -> object:
    return await import_remittance(
        db, IMPORTER, text, payer=c.medicare.number, currency="USD", label="medicare.835"
    )


async def entries(db: Database) -> int:
    async with db.read() as conn:
        return len((await conn.execute(journal_entry.select())).all())


async def test_a_remittance_pays_adjusts_and_bills_the_patients_share(
    db: Database, clinic: Clinic
) -> None:
    """Ana's claim: 160 billed, 100 paid, 40 contractual (CO-45), 20 deductible (PR-1).
    Ben's: denied, 160 adjusted off (CO-50 not medically necessary). Paid 100 by EFT."""
    text = era(
        claim(clinic.ana_claim, "160", "100", "20", "CO*45*40", "PR*1*20"),
        claim(clinic.ben_claim, "160.00", "0", "0", "CO*50*160"),
        paid="100.00",
    )
    report = await run(db, clinic, text)

    assert (report.rows, report.written, report.already, report.rejects) == (2, 2, 0, [])
    assert report.amount == usd("100.00")
    assert await balance_of(db, clinic.medicare.id) == usd("0.00")
    assert await balance_of(db, clinic.ana.id) == usd("60.00")  # her 40 and the deductible 20
    assert await balance_of(db, clinic.ben.id) == usd("40.00")
    [ana_share, deductible] = await items_of(db, clinic.ana.id)
    assert (ana_share.open, deductible.open) == (usd("40.00"), usd("20.00"))
    async with db.read() as conn:
        month = await journal(conn, DAY, DAY.replace(day=31), "USD")
        assert await check_invariants(conn) == []
    [receipt] = [line for line in month.lines if line.group == "receipts"]
    assert (receipt.account_number, receipt.method, receipt.reference) == (
        clinic.medicare.number,
        "eft",
        "EFT0042",
    )
    allowances = [ln for ln in month.lines if ln.entry_type == "CONTRACTUAL"]
    assert sorted(ln.amount for ln in allowances) == [usd("-160.00"), usd("-40.00")]
    assert {ln.reason for ln in allowances} == {"ERA"}


async def test_running_it_again_posts_nothing_more(db: Database, clinic: Clinic) -> None:
    text = era(claim(clinic.ana_claim, "160", "100", "20", "CO*45*40", "PR*1*20"), paid="100")
    await run(db, clinic, text)
    before = await entries(db)

    again = await run(db, clinic, text)

    assert (again.written, again.already, again.rejects) == (0, 1, [])
    assert await entries(db) == before
    assert await balance_of(db, clinic.ana.id) == usd("60.00")


async def test_a_claim_that_cannot_be_posted_is_rejected_and_the_rest_go_in(
    db: Database, clinic: Clinic
) -> None:
    text = era(
        claim(clinic.ana_claim, "160", "100", "0", "CO*45*50"),  # 150: does not balance
        claim("T99999999", "10", "10", "0"),  # billed nothing to Medicare
        claim("INV-7", "10", "0", "0", "CO*45*10"),  # not an arbot number
        claim(clinic.ben_claim, "200", "200", "0"),  # more than the 160 open
        paid="310.00",
    )
    report = await run(db, clinic, text)

    assert report.written == 0
    reasons = {r.key: r.reason for r in report.rejects}
    assert reasons == {
        clinic.ana_claim: "the claim does not balance: charged 160.00, paid 100.00, "
        "adjusted 50.00",
        "T99999999": f"transaction T99999999 billed nothing to {clinic.medicare.number}",
        "INV-7": "'INV-7' is not a transaction number arbot billed",
        clinic.ben_claim: f"it settles 200.00 but 160.00 is open of transaction "
        f"{clinic.ben_claim}",
    }
    assert [r.row for r in report.rejects] == sorted(r.row for r in report.rejects)
    assert await balance_of(db, clinic.medicare.id) == usd("320.00")


async def test_a_file_whose_total_is_not_its_claims_is_refused_whole(
    db: Database, clinic: Clinic
) -> None:
    before = await entries(db)
    text = era(claim(clinic.ana_claim, "160", "100", "0", "CO*45*60"), paid="90.00")

    with pytest.raises(BatchRefused, match=r"pays 90\.00 \(BPR02\), but its claims pay 100\.00"):
        await run(db, clinic, text)

    assert await entries(db) == before
    # Interest added at the provider level (a negative PLB) makes it add up.
    with_interest = era(
        claim(clinic.ana_claim, "160", "100", "0", "CO*45*60"), paid="102.50", plb="-2.50"
    )
    with pytest.raises(BatchRefused, match=r"pays 102\.50"):
        await run(db, clinic, with_interest.replace("-2.50", "2.50"))
    report = await run(db, clinic, with_interest)
    assert report.written == 1


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("hello", "this is not an X12 file"),
        (ISA + "ST*837*0001~BPR*I*1*C*ACH~", "segment 2 \\(ST\\): it is an X12 837, not an 835"),
        (ISA + "ST*835*0001~BPR*I*ten*C*ACH~", "segment 3 \\(BPR\\): 'ten' is not an amount"),
        (ISA + "ST*835*0001~BPR*I*1*C*ACH~CAS*CO*45*1~", "CAS comes before any claim"),
        (ISA + "ST*835*0001~BPR*I*1*C*ACH~CLP*T1*1*1*1~CAS*XX*1*1~", "not an adjustment group"),
        (ISA + "ST*835*0001~SE*2*0001~", "holds no 835 payment"),
    ],
)
def test_a_malformed_file_is_refused_with_the_segment_at_fault(text: str, says: str) -> None:
    from core.errors import ValidationError

    with pytest.raises(ValidationError, match=says):
        read_835(text)


async def test_a_reversal_or_negative_amount_is_left_for_a_person(
    db: Database, clinic: Clinic
) -> None:
    reversal = era(
        claim(clinic.ana_claim, "160", "100", "0", "CO*45*60").replace("*1*160", "*22*160"),
        claim(clinic.ben_claim, "160", "170", "0", "CO*45*-10"),
        paid="270",
    )
    report = await run(db, clinic, reversal)

    assert [r.reason for r in report.rejects] == [
        "claim status 22: it reverses an earlier payment: reverse that payment by hand",
        "a negative payment or adjustment (a correction) is posted by hand",
    ]
    assert await balance_of(db, clinic.medicare.id) == usd("320.00")


async def test_without_a_payer_account_the_claims_are_the_patients_items_billed_to_a_payer(
    db: Database,
) -> None:
    """A Medicare patient's visit billed on her own account (financial class medicare):
    the payment and the allowance go on her item, her share stays open on it."""
    await service(db, "CONS", "200.00", description="Consultation")
    eva = await open_account(db, "Eva Stone", financial_class="medicare")
    self_pay = await open_account(db, "Sam Self")
    visit = await charge(db, eva.id, ChargeLine("CONS"), key="eva")
    own = await charge(db, self_pay.id, ChargeLine("CONS"), key="sam")
    text = era(
        claim(entry_number(visit.entry.id), "200", "120", "30", "CO*45*50", "PR*2*30"),
        claim(entry_number(own.entry.id), "200", "0", "0", "CO*50*200"),
        paid="120",
    )

    report = await import_remittance(
        db, IMPORTER, text, payer=None, currency="USD", label="medicare.835"
    )

    assert report.written == 1
    assert [r.reason for r in report.rejects] == [
        f"transaction {entry_number(own.entry.id)} billed no patient to a payer: "
        "name the payer's account with --payer"
    ]
    assert await balance_of(db, eva.id) == usd("30.00")
    [item] = [i for i in await items_of(db, eva.id) if i.is_debit]
    assert (item.amount, item.open) == (usd("200.00"), usd("30.00"))
    assert await balance_of(db, self_pay.id) == usd("200.00")


async def test_a_claim_split_in_two_in_one_file_posts_both_parts(
    db: Database, clinic: Clinic
) -> None:
    """Review finding: two CLPs of one claim (a payer splitting it) shared their keys,
    so the second was taken for the first and 50.00 of the deposit never posted."""
    text = era(
        claim(clinic.ana_claim, "80", "50", "0", "CO*45*30"),
        claim(clinic.ana_claim, "80", "50", "0", "CO*45*30"),
        paid="100",
    )
    report = await run(db, clinic, text)

    assert (report.written, report.rejects) == (2, [])
    assert await balance_of(db, clinic.medicare.id) == usd("160.00")  # Ben's claim only
    assert (await run(db, clinic, text)).already == 2


async def test_the_same_trace_number_from_another_payer_is_another_remittance(
    db: Database, clinic: Clinic
) -> None:
    """Review finding: keys named the trace number but not the payer, so a second
    payer's cheque of the same number, on the same claim, was taken as imported."""
    medigap = await open_account(db, "Medigap", customer_type="insurer")
    cy = await open_account(db, "Cy Two Payers")
    both = (Split(clinic.medicare.id, percent_bp=8_000), Split(medigap.id, percent_bp=2_000))
    visit = await charge(db, cy.id, ChargeLine("CONS", splits=both), key="cy")
    number = entry_number(visit.entry.id)
    primary = era(claim(number, "160", "100", "0", "CO*45*60"), paid="100")
    secondary = era(claim(number, "40", "40", "0"), paid="40").replace(
        "TRN*1*EFT0042*1512345678", "TRN*1*EFT0042*1999999999"
    )

    await run(db, clinic, primary)
    report = await import_remittance(
        db, IMPORTER, secondary, payer=medigap.number, currency="USD", label="medigap.835"
    )

    assert (report.written, report.already, report.rejects) == (1, 0, [])
    assert await balance_of(db, medigap.id) == usd("0.00")
    assert await balance_of(db, clinic.medicare.id) == usd("320.00")  # Ana's and Ben's


async def test_a_denial_or_a_duplicate_goes_to_a_person_not_to_an_allowance(
    db: Database, clinic: Clinic
) -> None:
    """Review finding: a denied claim (CLP02 4) or a duplicate (OA-18) was written off
    as a contractual allowance; a claim paying and adjusting nothing was 'already in'."""
    text = era(
        claim(clinic.ana_claim, "160", "0", "0", "CO*16*160").replace("*1*160*0", "*4*160*0"),
        claim(clinic.ben_claim, "160", "0", "0", "OA*18*160"),
        paid="0",
    )
    report = await run(db, clinic, text)

    assert [r.reason for r in report.rejects] == [
        "claim status 4: the payer denied it: correct and resubmit it, or bill the patient",
        "the payer says it is a duplicate claim (OA-18): nothing is posted",
    ]
    assert (report.written, report.already) == (0, 0)
    assert await balance_of(db, clinic.medicare.id) == usd("320.00")


async def test_a_real_835_for_a_split_visit_adjudicates_the_whole_charge(
    db: Database, clinic: Clinic
) -> None:
    """Review finding: an 835 charges the whole visit (200), not the insurer's 80%
    arbot keeps on its account (160). Paid 100, CO-45 40, the patient owes 60: 40 is
    already her share of the split, the other 20 moves to her."""
    text = era(
        claim(clinic.ana_claim, "200", "100", "60", "CO*45*40", "PR*1*20", "PR*2*40"),
        paid="100",
    )
    report = await run(db, clinic, text)

    assert (report.written, report.rejects) == (1, [])
    assert await balance_of(db, clinic.medicare.id) == usd("160.00")  # Ben's claim only
    assert await balance_of(db, clinic.ana.id) == usd("60.00")


async def test_without_a_payer_account_an_insurers_own_item_is_not_the_patients(
    db: Database,
) -> None:
    """Review finding: without --payer, an insurer account with a financial class of
    its own was taken for the patient's item billed to a payer."""
    await service(db, "CONS", "200.00", description="Consultation")
    eva = await open_account(db, "Eva Stone")
    medicare = await open_account(db, "Medicare", customer_type="insurer",
                                  financial_class="medicare")  # fmt: skip
    split = (Split(medicare.id, percent_bp=8_000),)
    visit = await charge(db, eva.id, ChargeLine("CONS", splits=split), key="eva")
    text = era(claim(entry_number(visit.entry.id), "200", "100", "0", "CO*45*100"), paid="100")

    report = await import_remittance(db, IMPORTER, text, payer=None, currency="USD", label="x")

    assert [r.reason for r in report.rejects] == [
        f"transaction {entry_number(visit.entry.id)} billed no patient to a payer: "
        "name the payer's account with --payer"
    ]
