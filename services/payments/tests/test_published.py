"""The public NHS Payments to General Practice data set: its layout, and statements against it."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Any

import pytest
from payments.models import Component, Measure, PublishedTotal
from payments.published import rules as published
from pcse_kit.testing import Token, graphql
from sqlalchemy import func, select

if TYPE_CHECKING:
    import httpx
    from fastapi import FastAPI

# Headings as the 2023/24 file spells them (a few of its ~100 columns), and as older years did.
HEADER_2023 = (
    "Region Code,Sub ICB Code,PCN Code,PCN Name,Practice Code,Practice Name,Contract Type,"
    "Average Number of Registered Patients,Global Sum,MPIG Correction factor,"
    "Balance of PMS Expenditure,Total QOF Payments,Childhood Vaccination and Immunisation "
    "Scheme,Premises Payments,Seniority,Total Locum Allowances,PCN Participation,"
    "Prescribing Fee Payments,Dispensing Fee Payments,Reimbursement of Drugs,Other Payments,"
    "Total NHS Payments to General Practice,"
    '"Deductions for Pensions, Levies and Prescription Charge Income",'
    "Total NHS Payments to General Practice Minus Deductions"
)
ROW_A = (
    'Y58,11N,U1,Kernow PCN,A81001,Abbey Fields,GMS,15675,"£1,345,000.50",0,,"220,000.00",'
    '9000,48000,,1200.5,3100,500,2600,,700,"1,620,000.00","301,000.25","1,318,999.75"'
)
ROW_B = "Y58,11N,U1,Kernow PCN,B82002,Bay,PMS,8000,900000,,15000,,,,,,,,,,,,,"


def test_the_layout_maps_drifting_headings_to_measures() -> None:
    assert published.measure_of("Global Sum") is Measure.GLOBAL_SUM
    assert published.measure_of("GLOBAL SUM ") is Measure.GLOBAL_SUM
    assert published.measure_of("PCN Participation Payments") is Measure.PCN
    assert published.measure_of("PCN Name") is None
    assert published.measure_of("Number of Registered Patients (Last Known Figure)") is None
    assert (
        published.measure_of("Deductions for Pensions Levies and Prescription Charge Income")
        is Measure.DEDUCTIONS
    )


def test_fees_add_up_and_empty_cells_are_no_figure() -> None:
    rows = published.parse(f"{HEADER_2023}\n{ROW_A}\n{ROW_B}\n")

    figures = {(code, m): (p, h) for code, m, p, h in rows.rows}
    assert rows.practices == 2
    assert figures[("A81001", Measure.GLOBAL_SUM)] == (134_500_050, "Global Sum")
    assert figures[("A81001", Measure.PRESCRIBING_AND_DISPENSING_FEES)] == (
        310_000,
        "Prescribing Fee Payments + Dispensing Fee Payments",
    )
    assert figures[("A81001", Measure.DEDUCTIONS)][0] == 30_100_025
    assert ("B82002", Measure.QOF) not in figures
    assert figures[("B82002", Measure.PMS_BALANCE)][0] == 1_500_000


def test_statements_in_the_data_sets_measures_and_signs() -> None:
    figures = published.from_statements(
        {
            Component.GLOBAL_SUM: 1_000_00,
            Component.QOF_ASPIRATION: 200_00,
            Component.QOF_ACHIEVEMENT: 300_00,
            Component.EMPLOYEE_SUPERANNUATION: -150_00,
            Component.LMC_STATUTORY_LEVY: -10_00,
        }
    )
    assert figures[Measure.QOF] == 500_00
    assert figures[Measure.TOTAL] == 1_500_00
    assert figures[Measure.DEDUCTIONS] == 160_00
    assert figures[Measure.NET] == 1_340_00


IMPORT = """
mutation ($year: Int!, $csv: String!) {
  importPublishedTotals(input: {financialYear: $year, csv: $csv}) {
    financialYear practiceCount figures replayed
  }
}
"""
COMPARE = """
query { practicePayments(odsCode: "A81001") {
  publishedTotals(financialYear: 2025) { label measure heading published fromStatements difference }
} }
"""


async def test_published_totals_beside_what_the_statements_moved(
    make_line: Any, client: httpx.AsyncClient, token: Token
) -> None:
    await make_line(period=date(2025, 4, 1), component=Component.GLOBAL_SUM, amount=1_345_000_50)
    await make_line(
        period=date(2025, 3, 1), component=Component.GLOBAL_SUM, amount=99_00
    )  # 2024/25
    await make_line(
        period=date(2025, 6, 1), component=Component.QOF_ACHIEVEMENT, amount=200_000_00,
        paycode="QOFACH",
    )  # fmt: skip
    csv_text = f"{HEADER_2023}\n{ROW_A}\n"

    first = await graphql(client, IMPORT, {"year": 2025, "csv": csv_text})
    again = await graphql(client, IMPORT, {"year": 2025, "csv": csv_text})
    other = await graphql(client, IMPORT, {"year": 2025, "csv": f"{HEADER_2023}\n{ROW_B}\n"})
    shown = await graphql(client, COMPARE, token=token("practice", ["A81001"]))

    assert first["data"]["importPublishedTotals"] == {
        "financialYear": 2025, "practiceCount": 1, "figures": 10, "replayed": False,
    }  # fmt: skip
    assert again["data"]["importPublishedTotals"]["replayed"] is True
    assert other["errors"][0]["extensions"] == {"code": "CONFLICT", "field": "financialYear"}
    rows = {r["measure"]: r for r in shown["data"]["practicePayments"]["publishedTotals"]}
    assert rows["GLOBAL_SUM"] == {
        "label": "2025/26", "measure": "GLOBAL_SUM", "heading": "Global Sum",
        "published": "1345000.50", "fromStatements": "1345000.50", "difference": "0.00",
    }  # fmt: skip
    assert rows["QOF"]["difference"] == "-20000.00"


async def test_a_bad_file_is_refused_whole_with_its_rows(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    bad = ROW_A.replace("A81001", "A8100X")
    worse = ROW_B.replace("B82002", "C83003").replace("900000", "900000.123")
    body = await graphql(
        client, IMPORT, {"year": 2025, "csv": f"{HEADER_2023}\n{ROW_B}\n{bad}\n{worse}\n"}
    )

    rows = [(r["row"], r["field"]) for r in body["errors"][0]["extensions"]["rows"]]
    assert rows == [(3, "Practice Code"), (4, "Global Sum")]
    async with app.state.sessionmaker() as session:
        assert await session.scalar(select(func.count()).select_from(PublishedTotal)) == 0


@pytest.mark.parametrize("csv_text", ["Practice Name,Global Sum\nX,1\n", "Practice Code,Name\n"])
async def test_a_file_without_the_data_sets_columns_is_refused(
    client: httpx.AsyncClient, csv_text: str
) -> None:
    body = await graphql(client, IMPORT, {"year": 2025, "csv": csv_text})
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert body["errors"][0]["extensions"]["rows"][0]["row"] == 1
