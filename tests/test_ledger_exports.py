"""Ledger exports through the real gateway, on the demo data: an accountant with consent for
two practices exports a year in each layout, streamed, and every file's total equals what the
API's remittances say reached the bank in that year, to the penny."""

from __future__ import annotations

import csv
import io
import zipfile
from datetime import timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import httpx
from pcse_kit import dates

if TYPE_CHECKING:
    from stack import Stack

PRACTICES = ("A81001", "A82806")
LAYOUTS = ("XERO", "QUICKBOOKS_3", "QUICKBOOKS_4", "SAGE", "JOURNAL")


def ask(stack: Stack, token: str, query: str, variables: dict[str, Any] | None = None) -> Any:
    response = httpx.post(
        stack.gateway_url,
        json={"query": query, "variables": variables or {}},
        headers={"authorization": f"Bearer {token}"},
        timeout=30,
    )
    return response.json()


REMITTANCES = """
query ($ods: String!) {
  practicePayments(odsCode: $ods) {
    statements(first: 100) { nodes { remittances { paidOn amount } } }
  }
}
"""

EXPORT = """
query ($format: LedgerFormat!, $from: Date!, $to: Date!) {
  paymentsExport(format: $format, from: $from, to: $to) {
    contentType downloadPath net
    practices { odsCode movements net }
  }
}
"""


def file_net(layout: str, content: str) -> Decimal:
    """A file's total, read back as the accounting tool would read it."""
    rows = list(csv.DictReader(io.StringIO(content)))

    def money(value: str) -> Decimal:
        return Decimal(value) if value else Decimal(0)

    if layout == "QUICKBOOKS_4":
        return sum((money(r["Debit"]) - money(r["Credit"]) for r in rows), Decimal(0))
    if layout == "JOURNAL":
        debits = sum((money(r["Debit"]) for r in rows), Decimal(0))
        assert debits == sum((money(r["Credit"]) for r in rows), Decimal(0))
        bank = [r for r in rows if r["Nominal code"] == "1200"]
        return sum((money(r["Debit"]) - money(r["Credit"]) for r in bank), Decimal(0))
    return sum((money(r["Amount"]) for r in rows), Decimal(0))


def test_an_accountant_with_two_practices_exports_a_year_in_each_layout_matching_the_api(
    stack: Stack,
) -> None:
    accountant = stack.token("accountant", subject="acct-e2e-ledger")
    for code in PRACTICES:
        granted = ask(
            stack,
            stack.token("practice", [code], subject=f"manager@{code}"),
            "mutation ($ods: String!) { grantAccountantConsent(input: {odsCode: $ods, "
            'accountantId: "acct-e2e-ledger", idempotencyKey: "e2e-ledger-consent"}) '
            "{ active } }",
            {"ods": code},
        )
        assert granted == {"data": {"grantAccountantConsent": {"active": True}}}
    end = dates.today()
    start = end - timedelta(days=365)

    # What the API says reached each practice's bank in the year: its remittances.
    expected: dict[str, Decimal] = {}
    for code in PRACTICES:
        body = ask(stack, accountant, REMITTANCES, {"ods": code})
        assert "errors" not in body, body
        expected[code] = sum(
            (
                Decimal(remittance["amount"])
                for statement in body["data"]["practicePayments"]["statements"]["nodes"]
                for remittance in statement["remittances"]
                if start.isoformat() <= remittance["paidOn"] <= end.isoformat()
            ),
            Decimal(0),
        )
        assert expected[code] > 0

    with httpx.Client(
        base_url=stack.gateway_url.removesuffix("/graphql"),
        headers={"authorization": f"Bearer {accountant}"},
        timeout=60,
    ) as gateway:
        for layout in LAYOUTS:
            body = ask(
                stack,
                accountant,
                EXPORT,
                {"format": layout, "from": start.isoformat(), "to": end.isoformat()},
            )
            assert "errors" not in body, body
            summary = body["data"]["paymentsExport"]
            assert summary["contentType"] == "application/zip"
            assert {p["odsCode"]: Decimal(p["net"]) for p in summary["practices"]} == expected
            assert Decimal(summary["net"]) == sum(expected.values())

            with gateway.stream("GET", summary["downloadPath"]) as response:
                assert response.status_code == 200, response.read()
                assert response.headers["content-type"] == "application/zip"
                content = b"".join(response.iter_bytes())
            archive = zipfile.ZipFile(io.BytesIO(content))
            files = {name[:6]: archive.read(name).decode() for name in archive.namelist()}
            assert sorted(files) == sorted(PRACTICES)
            for code in PRACTICES:
                assert file_net(layout, files[code]) == expected[code], (layout, code)

        # One practice's file alone, as plain CSV.
        one = gateway.get(
            "/exports/payments",
            params={"format": "xero", "from": start.isoformat(), "to": end.isoformat(),
                    "odsCode": "A81001"},
        )  # fmt: skip
        assert one.status_code == 200
        assert one.headers["content-type"] == "text/csv; charset=utf-8"
        assert file_net("XERO", one.text) == expected["A81001"]

        # A bad range is a typed error, here as in GraphQL; another practice is refused.
        backwards = gateway.get(
            "/exports/payments",
            params={"format": "xero", "from": end.isoformat(), "to": start.isoformat()},
        )
        assert backwards.status_code == 400
        assert backwards.json()["errors"][0]["extensions"] == {
            "code": "BAD_USER_INPUT",
            "field": "to",
        }
        other = gateway.get(
            "/exports/payments",
            params={"format": "xero", "from": start.isoformat(), "to": end.isoformat(),
                    "odsCode": "F88477"},
        )  # fmt: skip
        assert other.status_code == 403

    # Without a token the gateway refuses before the service is asked.
    anonymous = httpx.get(
        stack.gateway_url.removesuffix("/graphql") + "/exports/payments",
        params={"format": "xero", "from": start.isoformat(), "to": end.isoformat()},
        timeout=10,
    )
    assert anonymous.status_code == 401
