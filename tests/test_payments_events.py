"""Payments hears of a GP leaving through the performers event stream, and flags the
superannuation still taken for them: across the services, through the gateway."""

from __future__ import annotations

import time
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

import httpx
from pcse_kit import dates

if TYPE_CHECKING:
    from stack import Stack


def months_back(n: int) -> date:
    """The first of the month ``n`` months before today's."""
    month = dates.today().replace(day=1)
    for _ in range(n):
        month = (month - timedelta(days=1)).replace(day=1)
    return month


# The demo pays the twelve months before today's; the GP leaves six months before this one.
FIRST_PAID = months_back(12)
LEFT_ON = (months_back(6) - timedelta(days=1)).isoformat()


def ask(stack: Stack, token: str, query: str, variables: dict[str, Any] | None = None) -> Any:
    response = httpx.post(
        stack.gateway_url,
        json={"query": query, "variables": variables or {}},
        headers={"authorization": f"Bearer {token}"},
        timeout=20,
    )
    return response.json()


def a_partner_in(directory: dict[str, Any], lmc: str) -> tuple[str, str]:
    """(GMC number, practice) of a partner working in the LMC's area since before the demo's
    statements began: payments holds a year of their superannuation."""
    area = {p["odsCode"] for p in directory["practices"] if p["lmcCode"] == lmc}
    return next(
        (m["gmcNumber"], m["odsCode"])
        for m in sorted(directory["memberships"], key=lambda m: (m["odsCode"], m["gmcNumber"]))
        if m["odsCode"] in area
        and m["role"] == "partner"
        and m["endDate"] is None
        and date.fromisoformat(m["startDate"]) < FIRST_PAID
    )


LEAVERS = """
query ($ods: String!) {
  practice(odsCode: $ods) {
    payments { anomalies(kind: LEAVER_SUPERANNUATION, first: 50) {
      nodes { gmcNumber coversFrom component facts { label value } } } }
  }
}
"""


def test_superannuation_after_a_leaving_recorded_in_performers_is_flagged_in_payments(
    stack: Stack, directory: dict[str, Any]
) -> None:
    gmc, ods = a_partner_in(directory, "llr")
    performers = stack.token("operator", ["performers"])
    before = ask(stack, stack.token("admin"), LEAVERS, {"ods": ods})
    assert not [
        n
        for n in before["data"]["practice"]["payments"]["anomalies"]["nodes"]
        if n["gmcNumber"] == gmc
    ]

    memberships = ask(
        stack,
        performers,
        "query ($gmc: String!) { performer(gmcNumber: $gmc) "
        "{ memberships { id endDate practice { odsCode } } } }",
        {"gmc": gmc},
    )
    [membership] = [
        m
        for m in memberships["data"]["performer"]["memberships"]
        if m["practice"]["odsCode"] == ods and m["endDate"] is None
    ]
    ended = ask(
        stack,
        performers,
        "mutation ($id: ID!, $on: Date!) { endMembership(input: {membershipId: $id, endDate: $on, "
        'idempotencyKey: "e2e-payments-leaver"}) { endDate } }',
        {"id": membership["id"], "on": LEFT_ON},
    )
    assert ended == {"data": {"endMembership": {"endDate": LEFT_ON}}}

    deadline = time.monotonic() + 30
    flagged: list[dict[str, Any]] = []
    while time.monotonic() < deadline and not flagged:
        body = ask(stack, stack.token("admin"), LEAVERS, {"ods": ods})
        flagged = [
            n
            for n in body["data"]["practice"]["payments"]["anomalies"]["nodes"]
            if n["gmcNumber"] == gmc
        ]
        time.sleep(0.25)

    assert flagged, "payments never heard of the leaving"
    assert min(n["coversFrom"] for n in flagged) == months_back(6).isoformat()
    assert {n["component"] for n in flagged} >= {"EMPLOYEE_SUPERANNUATION"}
    assert {"label": "Left the practice", "value": f"{LEFT_ON} (performers list)"} in flagged[0][
        "facts"
    ]
