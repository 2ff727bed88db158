"""Payments through the real gateway, on the demo data: the LMC view, the 2021 QOF story, an
accountant's export, and a GP's pension, each as the caller who would ask."""

from __future__ import annotations

import csv
import io
import re
from datetime import date, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import httpx
from pcse_kit import dates

if TYPE_CHECKING:
    from stack import Stack

ALL_KINDS = {
    "MISSING",
    "LATE",
    "DUPLICATE",
    "INCORRECT_AMOUNT",
    "PENSION_GAP",
    "PENSION_CATCH_UP",
    "WRONG_TIER",
    "LEAVER_SUPERANNUATION",
    "STUCK",
    "STUCK_DECLARATION",
}


def last_month_paid() -> date:
    """The demo pays the twelve months before today's."""
    return (dates.today().replace(day=1) - timedelta(days=1)).replace(day=1)


# A GMC number or an NHS number: neither belongs in an LMC's aggregates.
PERSON_NUMBER = re.compile(r"(?<![\d.])\d{7}(?![\d.])|(?<!\d)\d{10}(?!\d)")


def story_practices(directory: dict[str, Any]) -> set[str]:
    """The demo practices something goes wrong at (payments/demo.py): three in Kernow, the
    leaver's, and the first of Essex, Humberside and LLR."""
    area = {
        lmc["code"]: sorted(
            p["odsCode"] for p in directory["practices"] if p["lmcCode"] == lmc["code"]
        )
        for lmc in directory["lmcs"]
    }
    return {*area["kernow"][:3], "D88199", area["essex"][0], area["humberside"][0], area["llr"][0]}


def ask(stack: Stack, token: str, query: str, variables: dict[str, Any] | None = None) -> Any:
    response = httpx.post(
        stack.gateway_url,
        json={"query": query, "variables": variables or {}},
        headers={"authorization": f"Bearer {token}"},
        timeout=20,
    )
    return response.json()


LMC_SUMMARY = """
query ($code: String!) {
  lmc(code: $code) {
    name
    paymentsSummary {
      practices escalatableDisputes
      anomalies { kind count amountAtStake owedToPractices repayableByPractices suppressed
                  practicesAffected practiceCodes }
      openDisputes { reference odsCode ageDays escalatable }
    }
  }
}
"""


def test_each_lmc_sees_its_areas_payment_problems_and_the_demo_shows_every_kind(
    stack: Stack, directory: dict[str, Any]
) -> None:
    seen: set[str] = set()
    affected: set[str] = set()
    for lmc in directory["lmcs"]:
        response = httpx.post(
            stack.gateway_url,
            json={"query": LMC_SUMMARY, "variables": {"code": lmc["code"]}},
            headers={"authorization": f"Bearer {stack.token('lmc', [lmc['code']])}"},
            timeout=20,
        )
        body = response.json()
        assert "errors" not in body, body
        summary = body["data"]["lmc"]["paymentsSummary"]
        area = {p["odsCode"] for p in directory["practices"] if p["lmcCode"] == lmc["code"]}
        assert summary["practices"] == len(area)
        assert {a["kind"] for a in summary["anomalies"]} == ALL_KINDS
        for kind in summary["anomalies"]:
            assert set(kind["practiceCodes"]) <= area
            assert kind["practicesAffected"] == len(kind["practiceCodes"])
            if kind["suppressed"]:
                # Which practices, never how much: from 1 to 7 practices, no count or amount.
                assert 1 <= kind["practicesAffected"] <= 7
                assert kind["count"] is None
                assert kind["amountAtStake"] is None
            else:
                assert (kind["count"] > 0) == (Decimal(kind["amountAtStake"]) > 0)
        seen |= {a["kind"] for a in summary["anomalies"] if a["practicesAffected"]}
        affected |= {code for a in summary["anomalies"] for code in a["practiceCodes"]}
        # Aggregates only: no GP's number, no patient's.
        assert not PERSON_NUMBER.search(response.text), response.text
    assert seen == ALL_KINDS
    # Every other practice is paid correctly, and has no anomaly at all.
    assert affected == story_practices(directory)


def test_an_lmc_learns_which_practices_are_affected_never_how_much(stack: Stack) -> None:
    """The finding: the summary put the practice codes beside the amounts, so where one
    practice was affected the LMC saw that practice's money. A figure from 1 to 7 practices is
    now withheld from the LMC (NHS Digital's small-number rule); payments operators and
    admins, who see every practice's payments anyway, still see it."""
    lmc = ask(stack, stack.token("lmc", ["kernow"]), LMC_SUMMARY, {"code": "kernow"})
    admin = ask(stack, stack.token("admin"), LMC_SUMMARY, {"code": "kernow"})
    as_lmc = {a["kind"]: a for a in lmc["data"]["lmc"]["paymentsSummary"]["anomalies"]}
    exact = {a["kind"]: a for a in admin["data"]["lmc"]["paymentsSummary"]["anomalies"]}

    few = [kind for kind, a in exact.items() if 1 <= a["practicesAffected"] <= 7]
    assert few, exact  # the demo's stories: a few of kernow's practices, A81001 among them
    for kind in few:
        assert Decimal(exact[kind]["amountAtStake"]) > 0
        assert exact[kind]["suppressed"] is False
        assert as_lmc[kind]["practiceCodes"] == exact[kind]["practiceCodes"]
        assert as_lmc[kind]["suppressed"] is True
        assert as_lmc[kind]["count"] is None
        assert as_lmc[kind]["amountAtStake"] is None
        # A direction's part is shown only when no practice makes it up (0.00).
        for part in ("owedToPractices", "repayableByPractices"):
            assert as_lmc[kind][part] in (None, "0.00"), (kind, part)


LMC_TRENDS = """
query ($code: String!) {
  lmc(code: $code) { paymentsSummary { trends {
    kind component paymaster
    months { month raised amountRaised raisedPer100Practices englandMedianRaisedPer100Practices
             resolved medianDaysToResolve englandMedianDaysToResolve suppressed }
  } } }
}
"""


def test_an_lmc_sees_twelve_months_of_its_areas_trends_beside_englands(stack: Stack) -> None:
    body = ask(stack, stack.token("lmc", ["kernow"]), LMC_TRENDS, {"code": "kernow"})

    assert "errors" not in body, body
    trends = body["data"]["lmc"]["paymentsSummary"]["trends"]
    assert trends  # the demo's stories in kernow
    for trend in trends:
        assert len(trend["months"]) == 12
        for month in trend["months"]:
            # The demo's problems sit at a few practices: whatever was raised is withheld.
            if month["raised"] is None:
                assert month["suppressed"] is True
                assert month["amountRaised"] is None
                assert month["raisedPer100Practices"] is None
            assert month["englandMedianRaisedPer100Practices"] >= 0
        assert [m["month"] for m in trend["months"]] == sorted(m["month"] for m in trend["months"])
    assert any(m["suppressed"] for t in trends for m in t["months"])
    # Aggregates only: no GP's number, no patient's.
    assert not PERSON_NUMBER.search(str(body))


def test_an_lmc_sees_the_age_of_its_practices_disputes_and_no_other_lmcs_summary(
    stack: Stack,
) -> None:
    kernow = ask(stack, stack.token("lmc", ["kernow"]), LMC_SUMMARY, {"code": "kernow"})
    summary = kernow["data"]["lmc"]["paymentsSummary"]
    [dispute] = [d for d in summary["openDisputes"] if d["reference"] == "PAY-DEMO2021QOF"]
    assert dispute["odsCode"] == "A81001"
    assert dispute["escalatable"] is True
    assert dispute["ageDays"] > 40
    assert summary["escalatableDisputes"] >= 1

    other = ask(stack, stack.token("lmc", ["essex"]), LMC_SUMMARY, {"code": "kernow"})
    assert other["data"]["lmc"] is None
    assert {e["extensions"]["code"] for e in other["errors"]} == {"FORBIDDEN"}


QOF_STORY = """
query {
  practice(odsCode: "A81001") {
    name
    payments {
      qofDeclarations { financialYear state approvedOn }
      anomalies(kind: MISSING, first: 20) {
        nodes { id component coversFrom amountAtStake summary open
                derivation { label value } }
      }
      disputes { reference escalatable timeline { kind occurredOn evidence { label value } }
                 latePaymentNotice }
    }
  }
}
"""


def test_the_2021_qof_story_is_visible_to_the_practice_with_its_evidence(stack: Stack) -> None:
    body = ask(stack, stack.token("practice", ["A81001"]), QOF_STORY)

    assert "errors" not in body, body
    payments = body["data"]["practice"]["payments"]
    [declaration] = [d for d in payments["qofDeclarations"] if d["financialYear"] == 2020]
    # Approved by the commissioner, never paid.
    assert declaration == {"financialYear": 2020, "state": "APPROVED", "approvedOn": "2021-05-14"}
    [missing] = [
        a
        for a in payments["anomalies"]["nodes"]
        if a["component"] == "QOF_ACHIEVEMENT" and a["coversFrom"] == "2020-04-01"
    ]
    assert missing["open"] is True
    assert "due by 2021-06-30" in missing["summary"]
    derivation = {d["label"]: d["value"] for d in missing["derivation"]}
    assert derivation["Approved"] == "2021-05-14"
    assert derivation["Due"] == "2021-06-30"
    [dispute] = [d for d in payments["disputes"] if d["reference"] == "PAY-DEMO2021QOF"]
    assert [step["kind"] for step in dispute["timeline"]] == [
        "OPENED",
        "SENT",
        "RECEIPT",
        "RESPONSE",
    ]
    assert {"label": "CAS number", "value": "CAS-2107-448120"} in dispute["timeline"][2]["evidence"]
    assert dispute["escalatable"] is True
    assert "PAY-DEMO2021QOF" in dispute["latePaymentNotice"]


EXPORT = """
query ($period: Date!) {
  practicePayments(odsCode: "A81001") {
    statements(first: 1) { nodes { period gross deductions net lines { amount status } } }
    csv: statementExport(period: $period, format: CSV) { filename content net }
    json: statementExport(period: $period, format: JSON) { gross deductions net }
    anomalies(first: 5) { nodes { kind } }
    disputes { reference }
  }
}
"""


def test_an_accountant_with_consent_exports_statements_that_match_the_api_to_the_penny(
    stack: Stack,
) -> None:
    practice = stack.token("practice", ["A81001"], subject="manager@a81001")
    granted = ask(
        stack,
        practice,
        'mutation { grantAccountantConsent(input: {odsCode: "A81001", accountantId: '
        '"acct-e2e-payments", idempotencyKey: "e2e-payments-consent"}) { active } }',
    )
    assert granted == {"data": {"grantAccountantConsent": {"active": True}}}
    accountant = stack.token("accountant", subject="acct-e2e-payments")

    period = last_month_paid()
    body = ask(stack, accountant, EXPORT, {"period": period.isoformat()})

    payments = body["data"]["practicePayments"]
    [statement] = payments["statements"]["nodes"]
    assert statement["period"] == period.isoformat()
    rows = list(csv.DictReader(io.StringIO(payments["csv"]["content"])))
    assert len(rows) == len(statement["lines"])
    counted = {"paid": 1, "reversed": -1}
    total = sum(Decimal(r["amount"]) * counted.get(r["status"], 0) for r in rows)
    assert total == Decimal(statement["net"]) == Decimal(payments["csv"]["net"])
    assert (payments["json"]["gross"], payments["json"]["deductions"], payments["json"]["net"]) == (
        statement["gross"],
        statement["deductions"],
        statement["net"],
    )
    assert payments["csv"]["filename"] == f"statement-A81001-{period:%Y-%m}.csv"
    # Anomalies are payments data, and the accountant sees them; disputes are not.
    assert payments["anomalies"]["nodes"]
    assert payments["disputes"] is None
    assert {(tuple(e["path"]), e["extensions"]["code"]) for e in body["errors"]} == {
        (("practicePayments", "disputes"), "FORBIDDEN")
    }


PENSIONS = """
query {
  performer(gmcNumber: "9071747") {
    name
    pensions {
      firstMissingYear
      years { financialYear tierRate certificateStatus blockedBy takenDeductions }
    }
  }
}
"""


def test_a_gps_pension_is_for_their_practice_never_for_the_lmc(stack: Stack) -> None:
    practice = ask(stack, stack.token("practice", ["A81001"]), PENSIONS)
    lmc = ask(stack, stack.token("lmc", ["kernow"]), PENSIONS)

    assert "errors" not in practice, practice
    pensions = practice["data"]["performer"]["pensions"]
    assert pensions["firstMissingYear"] == 2023
    years = {y["financialYear"]: y for y in pensions["years"]}
    assert years[2024]["blockedBy"] == 2023
    assert years[2025]["tierRate"] is not None

    assert lmc["data"]["performer"]["name"]
    assert lmc["data"]["performer"]["pensions"] is None
    assert {e["extensions"]["code"] for e in lmc["errors"]} == {"FORBIDDEN"}
