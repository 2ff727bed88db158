"""The performers list through the gateway: the LMC view on the demo data, and events out."""

from __future__ import annotations

import asyncio
import json
import time
from typing import TYPE_CHECKING, Any

import httpx
import nats.js.errors

if TYPE_CHECKING:
    from stack import Stack

LMC_VIEW = """
query ($code: String!) {
  lmc(code: $code) {
    name
    performerCounts { status count }
    changeRequestAges { open withinTarget overdue beyondSixteenWeeks }
    findingCounts { kind count }
    findings { kind severity gmcNumber odsCode since evidence { label value } }
    openChangeRequests(first: 5) {
      nodes { reference ageDays overdue mayBeEligibleForGoodwillCompensation }
    }
    entrantsAndLeavers(since: "2015-01-01", first: 5) {
      nodes { on kind gmcNumber odsCode detail performer { name } }
      pageInfo { hasNextPage }
    }
  }
}
"""


def ask(stack: Stack, token: str, query: str, variables: dict[str, Any]) -> Any:
    response = httpx.post(
        stack.gateway_url,
        json={"query": query, "variables": variables},
        headers={"authorization": f"Bearer {token}"},
        timeout=10,
    )
    return response.json()


def test_each_lmc_sees_its_area_and_the_demo_shows_every_finding_kind(
    stack: Stack, directory: dict[str, Any]
) -> None:
    kinds_seen: set[str] = set()
    for lmc in directory["lmcs"]:
        body = ask(stack, stack.token("lmc", [lmc["code"]]), LMC_VIEW, {"code": lmc["code"]})
        assert "errors" not in body, body
        view = body["data"]["lmc"]
        area = {p["odsCode"] for p in directory["practices"] if p["lmcCode"] == lmc["code"]}

        assert sum(c["count"] for c in view["performerCounts"]) > 0
        ages = view["changeRequestAges"]
        assert ages["open"] == (ages["withinTarget"] + ages["overdue"] + ages["beyondSixteenWeeks"])
        assert ages["overdue"] >= 1
        assert ages["beyondSixteenWeeks"] >= 1
        assert all(f["odsCode"] in area for f in view["findings"] if f["odsCode"])
        assert all(f["evidence"] for f in view["findings"])
        feed = view["entrantsAndLeavers"]["nodes"]
        assert feed
        assert [n["on"] for n in feed] == sorted(n["on"] for n in feed)
        kinds_seen |= {c["kind"] for c in view["findingCounts"] if c["count"]}

    assert kinds_seen == {
        "DUPLICATE_PERFORMER",
        "NOT_ON_GP_REGISTER",
        "WORKING_NOT_INCLUDED",
        "SUSPENDED_WORKING",
        "CHANGE_REQUEST_OVERDUE",
        "GOODWILL_COMPENSATION_MAY_APPLY",
        "ENTITLED_NOT_VISIBLE",
        "GMC_NUMBER_LISTED_TWICE",
    }


async def last_leaving(stack: Stack) -> dict[str, Any] | None:
    """The last membership.ended event on the performers stream, read as the broker's reader."""
    bus = stack.bus("reader")
    try:
        js = await bus.jetstream()
        try:
            message = await js.get_last_msg("performers", "performers.membership.ended")
        except nats.js.errors.NotFoundError:
            return None
        event: dict[str, Any] = json.loads(message.data or b"null")
        return event
    finally:
        await bus.close()


def test_a_leaver_is_published_to_the_event_bus(stack: Stack, directory: dict[str, Any]) -> None:
    # A current membership away from A81001, whose data the other tests read.
    membership = next(
        m for m in directory["memberships"] if m["endDate"] is None and m["odsCode"] != "A81001"
    )
    operator = stack.token("operator", ["performers"])
    found = ask(
        stack,
        operator,
        "query ($gmc: String!) { performer(gmcNumber: $gmc) { memberships { id endDate "
        "practice { odsCode } } } }",
        {"gmc": membership["gmcNumber"]},
    )
    [current] = [
        m
        for m in found["data"]["performer"]["memberships"]
        if m["practice"]["odsCode"] == membership["odsCode"] and m["endDate"] is None
    ]

    ended = ask(
        stack,
        operator,
        "mutation ($id: ID!, $end: Date!) { endMembership(input: {membershipId: $id, "
        'endDate: $end, idempotencyKey: "e2e-leaver-1"}) { endDate } }',
        {"id": current["id"], "end": "2026-01-31"},
    )

    assert ended == {"data": {"endMembership": {"endDate": "2026-01-31"}}}
    deadline = time.monotonic() + 10
    key = membership["gmcNumber"]
    while ((event := asyncio.run(last_leaving(stack))) or {}).get("key") != key:
        assert time.monotonic() < deadline, "the leaver never reached the broker"
        time.sleep(0.1)
    assert event is not None
    assert event["payload"]["endDate"] == "2026-01-31"
    assert event["payload"]["odsCode"] == membership["odsCode"]
