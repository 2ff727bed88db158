"""Ledger exports: cash basis, each vendor's layout, formula cells neutralised, streamed.

The expected files are written out by hand from the lines below: which lines moved money in
the range, on which day, and what each vendor's layout makes of them.
"""

from __future__ import annotations

import csv
import io
import zipfile
from datetime import date
from typing import TYPE_CHECKING, Any

import pytest
from payments.models import AccountantConsent, ConsentScope, Statement, StatementLine
from pcse_kit.testing import Token, graphql
from sqlalchemy import insert

if TYPE_CHECKING:
    import httpx
    from fastapi import FastAPI

YEAR = {"from": "2025-04-01", "to": "2026-03-31"}


async def statement(app: FastAPI, ods_code: str, period: date, lines: list[dict[str, Any]]) -> None:
    async with app.state.sessionmaker.begin() as session:
        statement_id = await session.scalar(
            insert(Statement)
            .values(ods_code=ods_code, period=period, payment_date=period, source_system="PCSE")
            .returning(Statement.id)
        )
        await session.execute(
            insert(StatementLine),
            [
                {
                    "statement_id": statement_id,
                    "covers_from": period,
                    "covers_to": period.replace(day=28),
                    "source_system": "PCSE Online",
                    **line,
                }
                for line in lines
            ],
        )


async def a81001(app: FastAPI) -> None:
    """Money in 11,207.01 + 10.00 = 11,217.01; out -535.17 - 1,000.00 = -1,535.17; net 9,681.84.
    Not counted: a failed line, an authorised one, and a payment after the range."""
    await statement(
        app,
        "A81001",
        date(2025, 4, 1),
        [
            {"paycode": "GSUM", "component": "global_sum", "description": "Global sum",
             "amount_pence": 11_207_01, "status": "paid", "paid_on": date(2025, 4, 30),
             "remittance_ref": "REM-0425"},
            {"paycode": "SUPEREE", "component": "employee_superannuation",
             "description": "Superannuation", "amount_pence": -535_17, "status": "paid",
             "paid_on": date(2025, 4, 30), "remittance_ref": "REM-0425", "gmc_number": "1234567"},
            {"paycode": "DRUGS", "component": "drugs", "description": "Drugs",
             "amount_pence": 1_000_00, "status": "reversed", "paid_on": date(2025, 4, 30),
             "reversed_on": date(2025, 5, 15)},
            {"paycode": "PREMRENT", "component": "premises", "description": "Rent",
             "amount_pence": 999_99, "status": "failed", "failed_on": date(2025, 4, 30)},
            {"paycode": "OTHER", "component": "other", "description": "Enhanced",
             "amount_pence": 250_00, "status": "authorised", "authorised_on": date(2025, 4, 2)},
        ],
    )  # fmt: skip
    await statement(
        app,
        "A81001",
        date(2025, 6, 1),
        [
            {"paycode": "OTHER", "component": "other", "description": "Sundry",
             "amount_pence": 10_00, "status": "paid", "paid_on": date(2025, 6, 30),
             "remittance_ref": '=HYPERLINK("http://x")'},
        ],
    )  # fmt: skip
    await statement(
        app,
        "A81001",
        date(2026, 4, 1),
        [
            {"paycode": "GSUM", "component": "global_sum", "description": "Global sum",
             "amount_pence": 11_000_00, "status": "paid", "paid_on": date(2026, 4, 30)},
        ],
    )  # fmt: skip


async def b82002(app: FastAPI) -> None:
    """One payment of 500.00 and a levy of -12.34: net 487.66."""
    await statement(
        app,
        "B82002",
        date(2025, 9, 1),
        [
            {"paycode": "GSUM", "component": "global_sum", "description": "Global sum",
             "amount_pence": 500_00, "status": "paid", "paid_on": date(2025, 9, 30)},
            {"paycode": "LMCSTAT", "component": "lmc_statutory_levy", "description": "Levy",
             "amount_pence": -12_34, "status": "paid", "paid_on": date(2025, 9, 30)},
        ],
    )  # fmt: skip


EXPECTED = {
    "xero": (
        "Date,Amount,Payee,Description,Reference\r\n"
        "30/04/2025,11207.01,NHS England (PCSE),GSUM Global sum (Apr 2025),REM-0425\r\n"
        "30/04/2025,-535.17,NHS England (PCSE),SUPEREE Superannuation (Apr 2025),REM-0425\r\n"
        "15/05/2025,-1000.00,NHS England (PCSE),reversal: DRUGS Drugs (Apr 2025),A81001 2025-04\r\n"
        '30/06/2025,10.00,NHS England (PCSE),OTHER Sundry (Jun 2025),"\'=HYPERLINK(""http://x"")"\r\n'
    ),
    "quickbooks3": (
        "Date,Description,Amount\r\n"
        "30/04/2025,GSUM Global sum (Apr 2025),11207.01\r\n"
        "30/04/2025,SUPEREE Superannuation (Apr 2025),-535.17\r\n"
        "15/05/2025,reversal: DRUGS Drugs (Apr 2025),-1000.00\r\n"
        "30/06/2025,OTHER Sundry (Jun 2025),10.00\r\n"
    ),
    "quickbooks4": (
        "Date,Description,Credit,Debit\r\n"
        "30/04/2025,GSUM Global sum (Apr 2025),,11207.01\r\n"
        "30/04/2025,SUPEREE Superannuation (Apr 2025),535.17,\r\n"
        "15/05/2025,reversal: DRUGS Drugs (Apr 2025),1000.00,\r\n"
        "30/06/2025,OTHER Sundry (Jun 2025),,10.00\r\n"
    ),
    "sage": (
        "Date,Reference,Description,Amount\r\n"
        "30/04/2025,REM-0425,GSUM Global sum (Apr 2025),11207.01\r\n"
        "30/04/2025,REM-0425,SUPEREE Superannuation (Apr 2025),-535.17\r\n"
        "15/05/2025,A81001 2025-04,reversal: DRUGS Drugs (Apr 2025),-1000.00\r\n"
        '30/06/2025,"\'=HYPERLINK(""http://x"")",OTHER Sundry (Jun 2025),10.00\r\n'
    ),
}


def _net_pence(fmt: str, content: str) -> int:
    """The file's total, read back as an accounting tool would."""

    def pence(value: str) -> int:
        if not value:
            return 0
        whole, _, part = value.lstrip("-").partition(".")
        amount = int(whole) * 100 + int(part)
        return -amount if value.startswith("-") else amount

    rows = list(csv.DictReader(io.StringIO(content)))
    if fmt == "quickbooks4":
        return sum(pence(r["Debit"]) - pence(r["Credit"]) for r in rows)
    if fmt == "journal":
        bank = [r for r in rows if r["Nominal code"] == "1200"]
        assert sum(pence(r["Debit"]) for r in rows) == sum(pence(r["Credit"]) for r in rows)
        return sum(pence(r["Debit"]) - pence(r["Credit"]) for r in bank)
    return sum(pence(r["Amount"]) for r in rows)


@pytest.mark.parametrize("fmt", sorted(EXPECTED))
async def test_each_layout_holds_only_money_that_moved_with_formulas_neutralised(
    app: FastAPI, client: httpx.AsyncClient, token: Token, fmt: str
) -> None:
    await a81001(app)

    response = await client.get(
        "/exports/payments",
        params={"format": fmt, **YEAR},
        headers={"authorization": f"Bearer {token('practice', ['A81001'])}"},
    )

    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.text == EXPECTED[fmt]
    assert _net_pence(fmt, response.text) == 9_681_84


async def test_the_journal_books_each_movement_twice_to_the_chart(
    app: FastAPI, client: httpx.AsyncClient, token: Token
) -> None:
    await b82002(app)

    response = await client.get(
        "/exports/payments",
        params={"format": "journal", **YEAR},
        headers={"authorization": f"Bearer {token('practice', ['B82002'])}"},
    )

    rows = [r[4:] for r in csv.reader(io.StringIO(response.text))]
    assert rows == [
        ["Nominal code", "Account", "Description", "Debit", "Credit"],
        ["1200", "Bank: practice current account", "GSUM Global sum (Sep 2025)", "500.00", ""],
        ["4000", "GMS global sum", "GSUM Global sum (Sep 2025)", "", "500.00"],
        ["1200", "Bank: practice current account", "LMCSTAT Levy (Sep 2025)", "", "12.34"],
        ["7900", "LMC levies", "LMCSTAT Levy (Sep 2025)", "12.34", ""],
    ]
    assert _net_pence("journal", response.text) == 487_66


EXPORT = """
query ($fmt: LedgerFormat!, $from: Date!, $to: Date!, $ods: String) {
  paymentsExport(format: $fmt, from: $from, to: $to, odsCode: $ods) {
    filename contentType downloadPath net
    practices { odsCode movements moneyIn moneyOut net downloadPath }
  }
}
"""


async def test_an_accountant_exports_every_consented_practice_as_a_zip_matching_the_totals(
    app: FastAPI, client: httpx.AsyncClient, token: Token
) -> None:
    await a81001(app)
    await b82002(app)
    async with app.state.sessionmaker.begin() as session:
        session.add_all(
            [
                AccountantConsent(ods_code="A81001", accountant_id="acct-1", granted_by="m"),
                AccountantConsent(
                    ods_code="B82002",
                    accountant_id="acct-1",
                    granted_by="m",
                    scope=ConsentScope.PAYMENTS_AND_PENSIONS,
                ),
                AccountantConsent(ods_code="C83003", accountant_id="acct-2", granted_by="m"),
            ]
        )
    accountant = token("accountant", subject="acct-1")

    body = await graphql(client, EXPORT, {"fmt": "XERO", **YEAR}, token=accountant)

    assert "errors" not in body, body
    summary = body["data"]["paymentsExport"]
    assert summary["contentType"] == "application/zip"
    assert summary["net"] == "10169.50"  # 9,681.84 + 487.66
    assert [(p["odsCode"], p["movements"], p["moneyIn"], p["moneyOut"], p["net"])
            for p in summary["practices"]] == [
        ("A81001", 4, "11217.01", "-1535.17", "9681.84"),
        ("B82002", 2, "500.00", "-12.34", "487.66"),
    ]  # fmt: skip
    for fmt in (*EXPECTED, "journal"):
        response = await client.get(
            summary["downloadPath"].replace("format=xero", f"format={fmt}"),
            headers={"authorization": f"Bearer {accountant}"},
        )
        assert response.status_code == 200, response.text
        archive = zipfile.ZipFile(io.BytesIO(response.content))
        files = {name.split("-")[0]: archive.read(name).decode() for name in archive.namelist()}
        assert sorted(files) == ["A81001", "B82002"]
        assert _net_pence(fmt, files["A81001"]) == 9_681_84
        assert _net_pence(fmt, files["B82002"]) == 487_66


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"from": "2026-04-01", "to": "2025-04-01"}, "to"),
        ({"from": "2020-04-01", "to": "2026-03-31"}, "to"),
        ({"from": "2025-13-01", "to": "2026-03-31"}, "from"),
        ({"from": "2025-04-01"}, "to"),
        ({"format": "excel", "from": "2025-04-01", "to": "2026-03-31"}, "format"),
    ],
)
async def test_a_bad_range_or_format_is_a_typed_error(
    client: httpx.AsyncClient, token: Token, params: dict[str, str], field: str
) -> None:
    practice = token("practice", ["A81001"])
    response = await client.get(
        "/exports/payments",
        params={"format": "xero", **params},
        headers={"authorization": f"Bearer {practice}"},
    )

    assert response.status_code == 400
    [error] = response.json()["errors"]
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": field}


async def test_a_bad_range_in_graphql_names_the_field(
    client: httpx.AsyncClient, token: Token
) -> None:
    body = await graphql(
        client,
        EXPORT,
        {"fmt": "SAGE", "from": "2026-04-01", "to": "2025-04-01"},
        token=token("practice", ["A81001"]),
    )

    assert body["data"] is None
    assert body["errors"][0]["extensions"] == {"code": "BAD_USER_INPUT", "field": "to"}


@pytest.mark.parametrize(
    ("role", "scope", "subject", "ods"),
    [
        ("practice", ["B82002"], "pm", "A81001"),
        ("accountant", [], "acct-2", "A81001"),
        ("lmc", ["kernow"], "lmc", None),
        ("operator", ["records"], "op", "A81001"),
    ],
)
async def test_a_caller_who_may_not_see_the_practice_is_refused(
    client: httpx.AsyncClient,
    token: Token,
    role: str,
    scope: list[str],
    subject: str,
    ods: str | None,
) -> None:
    params = {"format": "xero", **YEAR}
    if ods:
        params["odsCode"] = ods
    response = await client.get(
        "/exports/payments",
        params=params,
        headers={"authorization": f"Bearer {token(role, scope, subject=subject)}"},
    )

    assert response.status_code == 403
    assert response.json()["errors"][0]["extensions"] == {"code": "FORBIDDEN"}


async def test_a_long_range_streams_in_batches(
    app: FastAPI, client: httpx.AsyncClient, token: Token
) -> None:
    await statement(
        app,
        "A81001",
        date(2025, 4, 1),
        [
            {"paycode": "OTHER", "component": "other", "description": "Sundry",
             "amount_pence": 1, "status": "paid", "paid_on": date(2025, 4, 30)}
            for _ in range(1_200)
        ],
    )  # fmt: skip

    chunks = []
    async with client.stream(
        "GET",
        "/exports/payments",
        params={"format": "quickbooks3", **YEAR},
        headers={"authorization": f"Bearer {token('practice', ['A81001'])}"},
    ) as response:
        chunks = [chunk async for chunk in response.aiter_raw()]

    content = b"".join(chunks).decode()
    assert content.count("\r\n") == 1_201
    assert _net_pence("quickbooks3", content) == 1_200


SET_CODE = """
mutation ($code: String!, $key: String!) {
  setNominalCode(input: {component: GLOBAL_SUM, code: $code, name: "=Core contract",
                         idempotencyKey: $key}) { component code name own }
}
"""


async def test_an_accountant_books_a_component_to_its_own_code_audited_and_once(
    app: FastAPI, client: httpx.AsyncClient, token: Token
) -> None:
    from payments.models import AuditEvent  # noqa: PLC0415
    from sqlalchemy import select  # noqa: PLC0415

    await b82002(app)
    async with app.state.sessionmaker.begin() as session:
        session.add(AccountantConsent(ods_code="B82002", accountant_id="acct-1", granted_by="m"))
    accountant = token("accountant", subject="acct-1")

    first = await graphql(
        client, SET_CODE, {"code": "GMS/01", "key": "chart-0001"}, token=accountant
    )
    again = await graphql(
        client, SET_CODE, {"code": "GMS/01", "key": "chart-0001"}, token=accountant
    )
    bad = await graphql(client, SET_CODE, {"code": "=1+1", "key": "chart-0002"}, token=accountant)
    lmc = await graphql(
        client, SET_CODE, {"code": "X1", "key": "chart-0003"}, token=token("lmc", ["kernow"])
    )

    assert "errors" not in first, first
    assert {"component": "GLOBAL_SUM", "code": "GMS/01", "name": "=Core contract", "own": True} in (
        first["data"]["setNominalCode"]
    )
    assert again == first
    assert bad["errors"][0]["extensions"] == {"code": "BAD_USER_INPUT", "field": "code"}
    assert lmc["errors"][0]["extensions"] == {"code": "FORBIDDEN"}
    async with app.state.sessionmaker() as session:
        audited = list(
            await session.scalars(
                select(AuditEvent.c.entity_key).where(AuditEvent.c.entity == "ledger_account")
            )
        )
    assert audited == ["acct-1/global_sum"]

    response = await client.get(
        "/exports/payments",
        params={"format": "journal", "odsCode": "B82002", **YEAR},
        headers={"authorization": f"Bearer {accountant}"},
    )
    rows = list(csv.reader(io.StringIO(response.text)))
    # The account name a spreadsheet would run as a formula is neutralised.
    assert rows[2][4:6] == ["GMS/01", "'=Core contract"]
    # Another accountant still books to the default chart.
    other = await graphql(
        client,
        "{ nominalCodes { component code own } }",
        token=token("accountant", subject="acct-2"),
    )
    assert {"component": "GLOBAL_SUM", "code": "4000", "own": False} in other["data"][
        "nominalCodes"
    ]
