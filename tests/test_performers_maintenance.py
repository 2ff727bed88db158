"""The performers list kept true through the gateway, judged by the regulations' own tests.

A new entrant applies, is included and starts at a practice; a GP who qualified before 2005
is on the GP Register without a CCT; registrars in their second and fourth months; a practice
that tries to back-date a request or to make itself a GP's employer. Each case ends with the
"can this GP start?" answer the practice would act on.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from pcse_kit.dates import today

if TYPE_CHECKING:
    from stack import Stack

# A humberside practice no other end-to-end test reads the performers of.
PRACTICE = "M83327"
TODAY = today()

APPLY = """
mutation ($gmc: String!, $key: String!, $gpRegisterOn: Date, $registrar: Boolean!,
          $training: Date, $familyName: String = "Entrant") {
  applyForInclusion(input: {gmcNumber: $gmc, givenName: "Test", familyName: $familyName,
      dateOfBirth: "1962-04-01", gmcRegisteredOn: "1986-08-06", gpRegisterOn: $gpRegisterOn,
      registrar: $registrar, trainingProgrammeStart: $training, odsCode: "M83327",
      idempotencyKey: $key}) { reference kind submittedOn }
}
"""
DECIDE = """
mutation ($ref: String!, $key: String!, $on: Date!) {
  decideChangeRequest(input: {reference: $ref, outcome: APPROVED, decidedOn: $on,
                              idempotencyKey: $key}) { outcome }
}
"""
JOIN = """
mutation ($gmc: String!, $key: String!, $start: Date!, $submitted: Date) {
  openChangeRequest(input: {kind: JOINING, gmcNumber: $gmc, odsCode: "M83327", role: SALARIED,
                            effectiveOn: $start, submittedOn: $submitted, idempotencyKey: $key}) {
    reference submittedOn completeOn
  }
}
"""
CAN_START = """
query ($gmc: String!) {
  canStart(odsCode: "M83327", gmcNumber: $gmc) { canStart reasons { code effect detail } }
}
"""
FINDINGS = """
query { practice(odsCode: "M83327") { findings { kind gmcNumber } } }
"""


class Caller:
    def __init__(self, stack: Stack, role: str, scope: list[str]) -> None:
        self.url = stack.gateway_url
        self.headers = {"authorization": f"Bearer {stack.token(role, scope)}"}

    def __call__(self, query: str, **variables: Any) -> Any:
        if "gmc" in variables and query is APPLY:
            # A name of each GP's own: two entrants alike would be one person twice.
            variables.setdefault("familyName", f"Entrant {variables['gmc']}")
        response = httpx.post(
            self.url,
            json={"query": query, "variables": variables},
            headers=self.headers,
            timeout=20,
        )
        return response.json()


@pytest.fixture(scope="module")
def operator(stack: Stack) -> Caller:
    return Caller(stack, "operator", ["performers"])


@pytest.fixture(scope="module")
def practice(stack: Stack) -> Caller:
    return Caller(stack, "practice", [PRACTICE])


def included_and_joined(operator: Caller, practice: Caller, gmc: str, **apply: Any) -> None:
    """Apply (operator), include, then the practice's joining request, approved."""
    applied = operator(APPLY, gmc=gmc, key=f"e2e-apply-{gmc}", **apply)
    reference = applied["data"]["applyForInclusion"]["reference"]
    assert operator(DECIDE, ref=reference, key=f"e2e-incl-{gmc}", on=str(TODAY))["data"]
    joined = practice(JOIN, gmc=gmc, key=f"e2e-join-{gmc}", start=str(TODAY))
    reference = joined["data"]["openChangeRequest"]["reference"]
    assert operator(DECIDE, ref=reference, key=f"e2e-joind-{gmc}", on=str(TODAY))["data"]


def reasons(answer: dict[str, Any]) -> list[tuple[str, str]]:
    return [(r["code"], r["effect"]) for r in answer["reasons"]]


def test_a_new_entrant_applies_is_included_and_starts_at_a_practice(
    operator: Caller, practice: Caller
) -> None:
    gmc = "8100001"
    applied = operator(
        APPLY, gmc=gmc, key="e2e-new-1", gpRegisterOn="2024-08-07", registrar=False, training=None
    )
    application = applied["data"]["applyForInclusion"]
    assert (application["kind"], application["submittedOn"]) == ("INCLUSION", str(TODAY))

    pending = practice(CAN_START, gmc=gmc)["data"]["canStart"]
    assert pending["canStart"] is False
    assert ("NOT_INCLUDED", "BLOCKS") in reasons(pending)
    assert ("OPEN_REQUEST", "NOTE") in reasons(pending)

    assert operator(DECIDE, ref=application["reference"], key="e2e-new-2", on=str(TODAY))["data"]
    joined = practice(JOIN, gmc=gmc, key="e2e-new-3", start=str(TODAY))
    assert operator(
        DECIDE, ref=joined["data"]["openChangeRequest"]["reference"], key="e2e-new-4", on=str(TODAY)
    )["data"]

    answer = practice(CAN_START, gmc=gmc)["data"]["canStart"]
    assert answer["canStart"] is True
    assert reasons(answer) == [("INCLUDED", "ALLOWS"), ("ON_GP_REGISTER", "ALLOWS")]
    working = practice('query { practice(odsCode: "M83327") { performers { gmcNumber status } } }')
    assert {"gmcNumber": gmc, "status": "INCLUDED"} in working["data"]["practice"]["performers"]


def test_a_gp_who_qualified_before_2005_without_a_cct_raises_no_finding(
    operator: Caller, practice: Caller
) -> None:
    gmc = "8100002"
    # On the GP Register since it opened (31 March 2006), with no CCT: reg 26(2)(b) is met.
    included_and_joined(
        operator, practice, gmc, gpRegisterOn="2006-03-31", registrar=False, training=None
    )
    performer = operator(
        "query ($g: String!) { performer(gmcNumber: $g) { cctDate gpRegisterOn } }", g=gmc
    )
    assert performer["data"]["performer"] == {"cctDate": None, "gpRegisterOn": "2006-03-31"}
    findings = practice(FINDINGS)["data"]["practice"]["findings"]
    assert [f for f in findings if f["gmcNumber"] == gmc] == []
    answer = practice(CAN_START, gmc=gmc)["data"]["canStart"]
    assert answer["canStart"] is True


@pytest.mark.parametrize(
    ("gmc", "started_days_ago", "finding", "can_start"),
    [
        # 45 days into the programme: month 2, within the three months.
        ("8100003", 45, [], True),
        # 100 days: month 4 (three months are at most 92 days).
        ("8100004", 100, ["WORKING_NOT_INCLUDED"], False),
    ],
)
def test_a_registrar_in_month_2_raises_no_finding_and_in_month_4_one(
    operator: Caller,
    practice: Caller,
    gmc: str,
    started_days_ago: int,
    finding: list[str],
    can_start: bool,
) -> None:
    started = TODAY - timedelta(days=started_days_ago)
    applied = operator(
        APPLY,
        gmc=gmc,
        key=f"e2e-reg-{gmc}",
        gpRegisterOn=None,
        registrar=True,
        training=str(started),
    )
    assert "errors" not in applied, applied
    # Working at the practice since the programme began, not yet included.
    added = operator(
        """mutation ($gmc: String!, $start: Date!, $key: String!) { addMembership(input: {
            gmcNumber: $gmc, odsCode: "M83327", role: REGISTRAR, startDate: $start,
            idempotencyKey: $key}) { id } }""",
        gmc=gmc,
        start=str(started),
        key=f"e2e-regm-{gmc}",
    )
    assert "errors" not in added, added

    findings = practice(FINDINGS)["data"]["practice"]["findings"]
    assert [f["kind"] for f in findings if f["gmcNumber"] == gmc] == finding
    answer = practice(CAN_START, gmc=gmc)["data"]["canStart"]
    assert answer["canStart"] is can_start
    expected = "REGISTRAR_WINDOW" if can_start else "REGISTRAR_WINDOW_ENDED"
    assert expected in [code for code, _ in reasons(answer)]


def test_a_practice_cannot_back_date_a_request(operator: Caller, practice: Caller) -> None:
    gmc = "8100005"
    operator(
        APPLY, gmc=gmc, key="e2e-back-1", gpRegisterOn="2020-08-05", registrar=False, training=None
    )
    seventeen_weeks_ago = str(TODAY - timedelta(weeks=17))

    refused = practice(
        JOIN, gmc=gmc, key="e2e-back-2", start=str(TODAY), submitted=seventeen_weeks_ago
    )
    assert refused.get("data") is None
    error = refused["errors"][0]["extensions"]
    assert (error["code"], error["field"]) == ("BAD_USER_INPUT", "submittedOn")
    requests = operator(
        "query ($g: String!) { performer(gmcNumber: $g) { changeRequests { kind } } }", g=gmc
    )
    assert requests["data"]["performer"]["changeRequests"] == [{"kind": "INCLUSION"}]

    dated_by_server = practice(JOIN, gmc=gmc, key="e2e-back-3", start=str(TODAY))
    assert dated_by_server["data"]["openChangeRequest"]["submittedOn"] == str(TODAY)
    assert dated_by_server["data"]["openChangeRequest"]["completeOn"] == str(TODAY)
    # What the practice acts on: not included yet, and its joining request is today's.
    answer = practice(CAN_START, gmc=gmc)["data"]["canStart"]
    assert answer["canStart"] is False
    joining = next(r for r in answer["reasons"] if "joining request" in r["detail"])
    assert f"complete on {TODAY}, 0 days open" in joining["detail"]


ADD = """
mutation ($gmc: String!, $key: String!) {
  addMembership(input: {gmcNumber: $gmc, odsCode: "M83327", role: PARTNER,
                        startDate: "2025-01-01", idempotencyKey: $key}) { id }
}
"""
DETAILS = "query ($g: String!) { performer(gmcNumber: $g) { name memberships { id } } }"


def test_a_practice_cannot_make_itself_a_gps_employer(
    practice: Caller, directory: dict[str, Any]
) -> None:
    # A GP working in another LMC's area, whose details this practice may not see.
    elsewhere = next(
        m["gmcNumber"]
        for m in directory["memberships"]
        if m["odsCode"] == "A81001" and m["endDate"] is None
    )
    assert practice(DETAILS, g=elsewhere)["errors"][0]["extensions"]["code"] == "FORBIDDEN"

    known = practice(ADD, gmc=elsewhere, key="e2e-own-1")
    unknown = practice(ADD, gmc="0000001", key="e2e-own-2")

    assert known["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    # An unknown GMC number answers exactly as a known one does.
    assert unknown["errors"][0]["extensions"] == known["errors"][0]["extensions"]
    assert unknown["errors"][0]["message"] == known["errors"][0]["message"]
    # Nothing was unlocked.
    assert practice(DETAILS, g=elsewhere)["errors"][0]["extensions"]["code"] == "FORBIDDEN"
