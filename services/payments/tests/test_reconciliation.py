"""Totals reconcile to the penny: the API, the CSV and JSON exports, and the lines."""

from __future__ import annotations

import csv
import io
import json
from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import hypothesis
from hypothesis import strategies as st
from payments.detection.rules import effect
from payments.models import ChainStatus, Component, LineRow, Paymaster, Statement
from payments.statements import export, ledger
from payments.statements.ingest import amount_pence
from payments.types import pounds
from pcse_kit.testing import Token, graphql

if TYPE_CHECKING:
    import httpx
    from fastapi import FastAPI

PERIOD = date(2026, 6, 1)
STATUS_DATES = {
    ChainStatus.PAID: "paid_on",
    ChainStatus.REVERSED: "reversed_on",
    ChainStatus.FAILED: "failed_on",
    ChainStatus.AUTHORISED: "authorised_on",
    ChainStatus.ENTERED: "entered_on",
}


def make_line(index: int, component: Component, pence: int, status: ChainStatus) -> LineRow:
    amount = -abs(pence) if component.is_deduction else abs(pence)
    dates: dict[str, date | None] = dict.fromkeys(STATUS_DATES.values())
    dates[STATUS_DATES[status]] = date(2026, 6, 30)
    return LineRow(
        id=index, statement_id=1, component=component, paycode=component.name[:8],
        description=component.value, amount_pence=amount, covers_from=PERIOD,
        covers_to=date(2026, 6, 30), paymaster=Paymaster.NHS_ENGLAND, source_system="PCSE Online",
        authoriser=None, status=status, gmc_number=None, run_id=None, remittance_ref=None,
        **dates,
    )  # fmt: skip


lines_strategy = st.lists(
    st.builds(
        lambda c, p, s: (c, p, s),
        st.sampled_from(list(Component)),
        st.integers(min_value=0, max_value=10**11),  # up to a billion pounds a line
        st.sampled_from(list(ChainStatus)),
    ),
    max_size=60,
)


@hypothesis.settings(max_examples=300, deadline=None)  # type: ignore[untyped-decorator,unused-ignore]
@hypothesis.given(lines_strategy)  # type: ignore[untyped-decorator,unused-ignore]
def test_every_total_reconciles_to_the_penny(
    drawn: list[tuple[Component, int, ChainStatus]],
) -> None:
    lines = [make_line(i, c, p, s) for i, (c, p, s) in enumerate(drawn, start=1)]
    statement = Statement(
        id=1, ods_code="A81001", period=PERIOD, payment_date=date(2026, 6, 30),
        source_system="PCSE Online",
    )  # fmt: skip

    total = export.totals(lines)
    rows = list(csv.DictReader(io.StringIO(export.to_csv(statement, lines))))
    document = json.loads(export.to_json(statement, lines))

    # What the lines did to the bank balance, summed in pence...
    assert total.net_pence == sum(effect(line) for line in lines)
    assert total.gross_pence + total.deductions_pence == total.net_pence
    # ...is exactly what the exports say, read back as a client would.
    from_csv = sum(
        amount_pence(row["amount"]) * {"paid": 1, "reversed": -1}.get(row["status"], 0)
        for row in rows
    )
    assert from_csv == total.net_pence
    assert [amount_pence(r["amount"]) for r in rows] == [line.amount_pence for line in lines]
    assert Decimal(document["totals"]["net"]) == pounds(total.net_pence)
    assert Decimal(document["totals"]["gross"]) + Decimal(document["totals"]["deductions"]) == (
        Decimal(document["totals"]["net"])
    )
    # Every ledger layout, read back, books exactly the net: nothing authorised, entered or
    # failed, and a reversal negative.
    moved = [row for line in lines if (row := ledger.cash_rows("A81001", PERIOD, line))]
    for fmt in ledger.LedgerFormat:
        content = ledger.write_csv(fmt, moved)
        assert _ledger_net(fmt, content) == total.net_pence, fmt


def _ledger_net(fmt: ledger.LedgerFormat, content: str) -> int:
    def pence(value: str) -> int:
        return amount_pence(value) if value else 0

    rows = list(csv.DictReader(io.StringIO(content)))
    if fmt is ledger.LedgerFormat.QUICKBOOKS_4:
        return sum(pence(r["Debit"]) - pence(r["Credit"]) for r in rows)
    if fmt is ledger.LedgerFormat.JOURNAL:
        assert sum(pence(r["Debit"]) for r in rows) == sum(pence(r["Credit"]) for r in rows)
        bank = [r for r in rows if r["Nominal code"] == ledger.BANK_ACCOUNT.code]
        return sum(pence(r["Debit"]) - pence(r["Credit"]) for r in bank)
    return sum(pence(r["Amount"]) for r in rows)


@hypothesis.given(st.integers(min_value=-(10**13), max_value=10**13))  # type: ignore[untyped-decorator,unused-ignore]
def test_pounds_and_pence_round_trip_exactly(pence: int) -> None:
    assert amount_pence(str(pounds(pence))) == pence


EXPORT = """
query ($ods: String!, $period: Date!) {
  practicePayments(odsCode: $ods) {
    statements(first: 1) { nodes { gross deductions net lines { amount status } } }
    csv: statementExport(period: $period, format: CSV) { filename contentType content net }
    json: statementExport(period: $period, format: JSON) { content gross deductions net }
    none: statementExport(period: "2019-01-01", format: CSV) { content }
  }
}
"""


async def test_the_exports_match_the_api_to_the_penny(
    make_line: Any, client: httpx.AsyncClient, token: Token
) -> None:
    await make_line(period=PERIOD, component=Component.GLOBAL_SUM, amount=11_207_01, paycode="GSUM")
    await make_line(period=PERIOD, component=Component.DRUGS, amount=3_333_33, paycode="DRUGS")
    await make_line(
        period=PERIOD, component=Component.DRUGS, amount=1_000_00, paycode="DRUGS",
        status=ChainStatus.REVERSED,
    )  # fmt: skip
    await make_line(
        period=PERIOD, component=Component.PREMISES, amount=999_99, paycode="PREMRENT",
        status=ChainStatus.FAILED,
    )  # fmt: skip
    await make_line(
        period=PERIOD, component=Component.EMPLOYEE_SUPERANNUATION, amount=-535_17,
        paycode="SUPEREE", gmc_number="1234567",
    )  # fmt: skip

    body = await graphql(
        client,
        EXPORT,
        {"ods": "A81001", "period": "2026-06-15"},
        token=token("practice", ["A81001"]),
    )

    assert "errors" not in body, body
    payments = body["data"]["practicePayments"]
    [statement] = payments["statements"]["nodes"]
    assert (statement["gross"], statement["deductions"], statement["net"]) == (
        "13540.34",
        "-535.17",
        "13005.17",
    )
    rows = list(csv.DictReader(io.StringIO(payments["csv"]["content"])))
    assert len(rows) == 5
    assert payments["csv"]["filename"] == "statement-A81001-2026-06.csv"
    assert payments["csv"]["contentType"] == "text/csv"
    counted = {"paid": 1, "reversed": -1}
    assert pounds(sum(amount_pence(r["amount"]) * counted.get(r["status"], 0) for r in rows)) == (
        Decimal(statement["net"])
    )
    document = json.loads(payments["json"]["content"])
    assert document["totals"] == {"gross": "13540.34", "deductions": "-535.17", "net": "13005.17"}
    assert payments["csv"]["net"] == payments["json"]["net"] == statement["net"]
    assert payments["none"] is None


async def test_an_accountant_with_consent_exports_and_sees_anomalies_but_not_disputes(
    app: FastAPI, make_line: Any, client: httpx.AsyncClient, token: Token
) -> None:
    from payments.models import AccountantConsent  # noqa: PLC0415

    await make_line(period=PERIOD, component=Component.GLOBAL_SUM, amount=100_00, paycode="GSUM")
    async with app.state.sessionmaker.begin() as session:
        session.add(AccountantConsent(ods_code="A81001", accountant_id="acct-1", granted_by="m"))
    query = """
    query { practicePayments(odsCode: "A81001") {
      statementExport(period: "2026-06-01", format: JSON) { net }
      anomalies { nodes { kind } }
      disputes { reference }
    } }
    """
    body = await graphql(client, query, token=token("accountant", subject="acct-1"))

    payments = body["data"]["practicePayments"]
    assert payments["statementExport"] == {"net": "100.00"}
    assert payments["anomalies"] == {"nodes": []}
    assert payments["disputes"] is None
    assert [(e["path"], e["extensions"]["code"]) for e in body["errors"]] == [
        (["practicePayments", "disputes"], "FORBIDDEN")
    ]
