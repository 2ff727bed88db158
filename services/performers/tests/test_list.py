"""Changing the list: decisions under the regulations, change requests, memberships, events."""

from __future__ import annotations

from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

import pytest
from pcse_kit.dates import today
from pcse_kit.db import StatementCounter
from pcse_kit.testing import Token, graphql
from performers import rules
from performers.models import AuditEvent, ChangeKind, ListStatus, Outbox, StatusChange
from sqlalchemy import func, select

if TYPE_CHECKING:
    import httpx
    from fastapi import FastAPI

TODAY = today()
DECIDE = """
mutation ($gmc: String!, $to: ListStatus!, $key: String!, $on: Date!, $conditions: String) {
  recordListDecision(input: {gmcNumber: $gmc, toStatus: $to, effectiveDate: $on,
                             decision: "PLDP", source: "NHS England", idempotencyKey: $key,
                             conditions: $conditions}) {
    status statusHistory { fromStatus toStatus decision recordedBy }
  }
}
"""


@pytest.fixture
async def practice(make_lmc: Any, make_practice: Any) -> str:
    await make_lmc()
    return str(await make_practice())


async def counts(app: FastAPI) -> tuple[int, int, int]:
    """(status changes, audit events, outbox events): what a refused write must leave alone."""
    async with app.state.sessionmaker() as session:
        return (
            await session.scalar(select(func.count()).select_from(StatusChange)) or 0,
            await session.scalar(select(func.count()).select_from(AuditEvent)) or 0,
            await session.scalar(select(func.count()).select_from(Outbox)) or 0,
        )


ALL_PAIRS = [
    (current, target) for current in ListStatus for target in ListStatus if current is not target
]


@pytest.mark.parametrize(("current", "target"), ALL_PAIRS, ids=str)
async def test_every_transition_is_allowed_or_refused_as_the_regulations_say(
    app: FastAPI,
    practice: str,
    make_performer: Any,
    client: httpx.AsyncClient,
    current: ListStatus,
    target: ListStatus,
) -> None:
    gmc = await make_performer(status=current)
    variables = {"gmc": gmc, "to": target.name, "key": f"t-{current}-{target}", "on": str(TODAY)}
    if target is ListStatus.INCLUDED_WITH_CONDITIONS:
        variables["conditions"] = "Not to undertake minor surgery (reg 10)"

    body = await graphql(client, DECIDE, variables)

    if rules.allowed(current, target):
        assert body["data"]["recordListDecision"]["status"] == target.name
        assert body["data"]["recordListDecision"]["statusHistory"][-1] == {
            "fromStatus": current.name,
            "toStatus": target.name,
            "decision": "PLDP",
            "recordedBy": "test-admin",
        }
        # The decision, its audit row; the event, and the LMC feed entry for kernow.
        assert await counts(app) == (1, 1, 2)
    else:
        assert body["errors"][0]["extensions"] == {"code": "BAD_USER_INPUT", "field": "toStatus"}
        assert await counts(app) == (0, 0, 0)


async def test_withdrawing_while_suspended_is_refused(
    practice: str, make_performer: Any, client: httpx.AsyncClient
) -> None:
    gmc = await make_performer(status=ListStatus.SUSPENDED)
    body = await graphql(
        client, DECIDE, {"gmc": gmc, "to": "WITHDRAWN", "key": "w-00000001", "on": str(TODAY)}
    )
    assert body["errors"][0]["message"] == "A performer who is suspended cannot become withdrawn."


async def test_a_decision_publishes_one_event_and_a_replay_none(
    app: FastAPI, practice: str, make_performer: Any, client: httpx.AsyncClient
) -> None:
    gmc = await make_performer(status=ListStatus.INCLUDED)
    variables = {"gmc": gmc, "to": "SUSPENDED", "key": "suspend-0001", "on": str(TODAY)}

    first = await graphql(client, DECIDE, variables)
    replay = await graphql(client, DECIDE, variables)

    assert first == replay
    async with app.state.sessionmaker() as session:
        events = (await session.execute(select(Outbox))).all()
    assert [(e.stream, e.type, e.key) for e in events] == [
        ("performers", "performer.status_changed", gmc),
        ("performers", "lmc.list_movement", "kernow"),
    ]
    assert events[0].payload["from"] == "included"
    assert events[0].payload["to"] == "suspended"


@pytest.mark.parametrize(
    ("variables", "field"),
    [
        ({"gmc": "123", "to": "INCLUDED"}, "gmcNumber"),
        ({"gmc": "0000000", "to": "INCLUDED"}, "gmcNumber"),
        ({"on": str(TODAY + timedelta(days=3))}, "effectiveDate"),
    ],
)
async def test_bad_decisions_are_typed_errors_naming_the_field(
    app: FastAPI,
    practice: str,
    make_performer: Any,
    client: httpx.AsyncClient,
    variables: dict[str, str],
    field: str,
) -> None:
    gmc = await make_performer(status=ListStatus.PENDING)
    body = await graphql(
        client,
        DECIDE,
        {"gmc": gmc, "to": "INCLUDED", "key": "bad-00001", "on": str(TODAY), **variables},
    )
    assert body["errors"][0]["extensions"]["field"] == field
    assert await counts(app) == (0, 0, 0)


async def test_only_operators_record_decisions(
    app: FastAPI, practice: str, make_performer: Any, client: httpx.AsyncClient, token: Token
) -> None:
    gmc = await make_performer(status=ListStatus.PENDING)
    variables = {"gmc": gmc, "to": "INCLUDED", "key": "nope-0001", "on": str(TODAY)}
    for role, scope in (("practice", ["A81001"]), ("lmc", ["kernow"]), ("operator", ["payments"])):
        body = await graphql(client, DECIDE, variables, token=token(role, scope))
        assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert await counts(app) == (0, 0, 0)


OPEN = """
mutation ($gmc: String!, $on: Date, $key: String!, $evidence: String) {
  openChangeRequest(input: {kind: STATUS_CHANGE, gmcNumber: $gmc, odsCode: "A81001",
                            requestedStatus: INCLUDED, submittedOn: $on, evidence: $evidence,
                            idempotencyKey: $key}) {
    reference open submittedOn completeOn decisionDueBy goodwillFrom ageDays overdue
    mayBeEligibleForGoodwillCompensation
  }
}
"""
CLOSE = """
mutation ($ref: String!, $on: Date!, $key: String!) {
  decideChangeRequest(input: {reference: $ref, outcome: APPROVED, decidedOn: $on,
                              idempotencyKey: $key}) { open outcome decidedOn ageDays }
}
"""


async def test_the_server_dates_a_request_and_a_practice_cannot_back_date_it(
    app: FastAPI, practice: str, make_performer: Any, client: httpx.AsyncClient, token: Token
) -> None:
    gmc = await make_performer(status=ListStatus.PENDING)
    own = token("practice", ["A81001"])
    back = str(TODAY - timedelta(weeks=17))

    back_dated = await graphql(
        client, OPEN, {"gmc": gmc, "on": back, "key": "open-0000"}, token=own
    )
    assert back_dated["errors"][0]["extensions"] == {
        "code": "BAD_USER_INPUT",
        "field": "submittedOn",
    }
    assert await counts(app) == (0, 0, 0)

    opened = await graphql(client, OPEN, {"gmc": gmc, "key": "open-0001"}, token=own)
    request = opened["data"]["openChangeRequest"]
    assert request == {
        "reference": request["reference"],
        "open": True,
        "submittedOn": str(TODAY),
        "completeOn": str(TODAY),
        # A status change: the service's four weeks; goodwill is for applications only.
        "decisionDueBy": str(TODAY + timedelta(weeks=4)),
        "goodwillFrom": None,
        "ageDays": 0,
        "overdue": False,
        "mayBeEligibleForGoodwillCompensation": False,
    }

    # An operator may give an earlier day, with the evidence for it.
    no_evidence = await graphql(client, OPEN, {"gmc": gmc, "on": back, "key": "open-0002"})
    with_evidence = await graphql(
        client,
        OPEN,
        {"gmc": gmc, "on": back, "key": "open-0003", "evidence": "Paper form stamped received"},
    )
    assert no_evidence["errors"][0]["extensions"] == {"code": "BAD_USER_INPUT", "field": "evidence"}
    assert with_evidence["data"]["openChangeRequest"]["submittedOn"] == back


async def test_a_change_request_closes_once(
    practice: str, make_performer: Any, client: httpx.AsyncClient
) -> None:
    gmc = await make_performer(status=ListStatus.PENDING)
    submitted = TODAY - timedelta(weeks=13)
    opened = await graphql(
        client, OPEN, {"gmc": gmc, "on": str(submitted), "key": "open-0101", "evidence": "form"}
    )
    request = opened["data"]["openChangeRequest"]
    assert request["ageDays"] == 91  # 13 weeks
    assert request["overdue"] is True

    early = await graphql(
        client,
        CLOSE,
        {
            "ref": request["reference"],
            "on": str(submitted - timedelta(days=1)),
            "key": "close-0000",
        },
    )
    closed = await graphql(
        client, CLOSE, {"ref": request["reference"], "on": str(TODAY), "key": "close-0001"}
    )
    again = await graphql(
        client, CLOSE, {"ref": request["reference"], "on": str(TODAY), "key": "close-0002"}
    )

    assert early["errors"][0]["extensions"] == {"code": "BAD_USER_INPUT", "field": "decidedOn"}
    assert closed["data"]["decideChangeRequest"] == {
        "open": False,
        "outcome": "APPROVED",
        "decidedOn": str(TODAY),
        "ageDays": 91,
    }
    again_error = again["errors"][0]["extensions"]
    assert again_error == {"code": "CONFLICT", "field": "reference"}


MEMBERSHIP = """
mutation ($gmc: String!, $start: Date!, $end: Date, $key: String!) {
  addMembership(input: {gmcNumber: $gmc, odsCode: "A81001", role: LOCUM, startDate: $start,
                        endDate: $end, idempotencyKey: $key}) { id role startDate endDate }
}
"""
END = """
mutation ($id: ID!, $end: Date!, $key: String!) {
  endMembership(input: {membershipId: $id, endDate: $end, idempotencyKey: $key}) { endDate }
}
"""


async def test_memberships_start_and_end_with_events_for_payments(
    app: FastAPI, practice: str, make_performer: Any, client: httpx.AsyncClient
) -> None:
    gmc = await make_performer(at=None)

    backwards = await graphql(
        client,
        MEMBERSHIP,
        {"gmc": gmc, "start": "2024-05-01", "end": "2024-04-30", "key": "m-0000001"},
    )
    added = await graphql(
        client, MEMBERSHIP, {"gmc": gmc, "start": "2024-05-01", "key": "m-0000002"}
    )
    membership = added["data"]["addMembership"]["id"]
    too_early = await graphql(
        client, END, {"id": membership, "end": "2024-04-01", "key": "e-0000001"}
    )
    ended = await graphql(client, END, {"id": membership, "end": "2025-03-31", "key": "e-0000002"})
    twice = await graphql(client, END, {"id": membership, "end": "2025-04-30", "key": "e-0000003"})

    assert backwards["errors"][0]["extensions"] == {"code": "BAD_USER_INPUT", "field": "endDate"}
    assert too_early["errors"][0]["extensions"] == {"code": "BAD_USER_INPUT", "field": "endDate"}
    assert ended["data"]["endMembership"] == {"endDate": "2025-03-31"}
    assert twice["errors"][0]["extensions"]["code"] == "CONFLICT"
    async with app.state.sessionmaker() as session:
        events = (await session.execute(select(Outbox).order_by(Outbox.c.id))).all()
    assert [(e.type, e.key) for e in events] == [
        ("membership.started", gmc),
        ("lmc.list_movement", "kernow"),
        ("membership.ended", gmc),
        ("lmc.list_movement", "kernow"),
    ]
    assert events[3].payload == {
        "lmcCode": "kernow",
        "on": "2025-03-31",
        "kind": "left",
        "gmcNumber": gmc,
        "odsCode": "A81001",
        "detail": "locum",
    }
    assert events[2].payload == {
        "membershipId": int(membership),
        "gmcNumber": gmc,
        "odsCode": "A81001",
        "role": "locum",
        "startDate": "2024-05-01",
        "endDate": "2025-03-31",
    }


async def test_no_event_survives_a_rolled_back_write(
    app: FastAPI, practice: str, make_performer: Any, client: httpx.AsyncClient
) -> None:
    gmc = await make_performer(at=None)
    # The practice does not exist: the write fails after validation, inside the transaction.
    body = await graphql(
        client,
        MEMBERSHIP.replace('"A81001"', '"Z99999"'),
        {"gmc": gmc, "start": "2024-05-01", "key": "m-0000009"},
    )
    assert body["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    assert await counts(app) == (0, 0, 0)


async def test_search_finds_performers_and_practices_the_caller_may_see(
    practice: str, make_practice: Any, make_performer: Any, client: httpx.AsyncClient, token: Token
) -> None:
    await make_practice(ods_code="B82002", name="Harbour View Surgery")
    here = await make_performer(family_name="Okonkwo")
    await make_performer(family_name="Okonkwo", at="B82002")
    own = token("practice", ["A81001"])

    performers = await graphql(
        client, '{ searchPerformers(text: "okonk") { nodes { gmcNumber } } }', token=own
    )
    practices = await graphql(client, '{ searchPractices(text: "harbour") { nodes { odsCode } } }')
    by_postcode = await graphql(client, '{ searchPractices(text: "tr11a") { nodes { odsCode } } }')
    too_short = await graphql(client, '{ searchPractices(text: "h") { nodes { odsCode } } }')

    assert performers["data"]["searchPerformers"]["nodes"] == [{"gmcNumber": here}]
    assert practices["data"]["searchPractices"]["nodes"] == [{"odsCode": "B82002"}]
    assert by_postcode["data"]["searchPractices"]["nodes"] == [
        {"odsCode": "A81001"},
        {"odsCode": "B82002"},
    ]
    assert too_short["errors"][0]["extensions"] == {"code": "BAD_USER_INPUT", "field": "text"}


LMC_VIEW = """
query ($since: Date!, $after: String) {
  lmc(code: "kernow") {
    icbCodes
    performerCounts { status count }
    changeRequestAges { open withinTarget overdue beyondSixteenWeeks }
    findingCounts { kind count }
    entrantsAndLeavers(since: $since, first: 2, after: $after) {
      nodes { on kind gmcNumber odsCode detail }
      pageInfo { hasNextPage endCursor }
    }
  }
}
"""


async def test_the_lmc_view_counts_its_area(
    practice: str,
    make_practice: Any,
    make_performer: Any,
    make_change_request: Any,
    make_lmc: Any,
    client: httpx.AsyncClient,
    token: Token,
) -> None:
    await make_lmc(code="essex", name="Essex LMCs")
    await make_practice(ods_code="C83003", lmc_code="essex")
    joined = await make_performer(start=date(2026, 1, 5))
    pending = await make_performer(
        family_name="P", status=ListStatus.PENDING, start=date(2026, 2, 1)
    )
    await make_performer(family_name="Left", start=date(2020, 1, 1), end=date(2026, 3, 1))
    await make_performer(family_name="Essex", at="C83003", start=date(2026, 1, 6))
    for weeks in (2, 13, 20):
        await make_change_request(
            gmc_number=joined,
            kind=ChangeKind.INCLUSION,
            submitted_on=TODAY - timedelta(weeks=weeks),
        )

    body = await graphql(client, LMC_VIEW, {"since": "2026-01-01"}, token=token("lmc", ["kernow"]))

    lmc = body["data"]["lmc"]
    assert lmc["icbCodes"] == ["QT6"]
    # Working today: the January joiner and the pending one; not the leaver, not Essex's.
    assert lmc["performerCounts"] == [
        {"status": "INCLUDED", "count": 1},
        {"status": "PENDING", "count": 1},
    ]
    assert lmc["changeRequestAges"] == {
        "open": 3,
        "withinTarget": 1,
        "overdue": 1,
        "beyondSixteenWeeks": 1,
    }
    counts = {c["kind"]: c["count"] for c in lmc["findingCounts"]}
    assert counts["WORKING_NOT_INCLUDED"] == 1
    assert counts["CHANGE_REQUEST_OVERDUE"] == 1
    assert counts["GOODWILL_COMPENSATION_MAY_APPLY"] == 1
    feed = lmc["entrantsAndLeavers"]
    assert [(n["kind"], n["gmcNumber"]) for n in feed["nodes"]] == [
        ("joined", joined),
        ("joined", pending),
    ]
    rest = await graphql(
        client,
        LMC_VIEW,
        {"since": "2026-01-01", "after": feed["pageInfo"]["endCursor"]},
        token=token("lmc", ["kernow"]),
    )
    later = rest["data"]["lmc"]["entrantsAndLeavers"]
    assert [n["kind"] for n in later["nodes"]] == ["left"]
    assert later["pageInfo"]["hasNextPage"] is False


@pytest.mark.parametrize(("role", "scope"), [("lmc", ["essex"]), ("practice", ["A81001"])])
async def test_an_lmc_view_is_for_that_lmc_alone(
    practice: str, client: httpx.AsyncClient, token: Token, role: str, scope: list[str]
) -> None:
    body = await graphql(
        client, '{ lmc(code: "kernow") { findingCounts { kind count } } }', token=token(role, scope)
    )
    assert {e["extensions"]["code"] for e in body["errors"]} == {"FORBIDDEN"}


async def test_an_lmc_summary_costs_the_same_statements_for_1_or_30_practices(
    app: FastAPI, make_lmc: Any, make_practice: Any, make_performer: Any, client: httpx.AsyncClient
) -> None:
    query = """
    query ($code: String!) { lmc(code: $code) {
      performerCounts { status count } changeRequestAges { open overdue }
      findings { kind } findingCounts { kind count }
      entrantsAndLeavers(since: "2000-01-01") { nodes { kind } }
    } }
    """
    counts = []
    for lmc, size, first in (("small", 1, 83000), ("large", 30, 84000)):
        await make_lmc(code=lmc, name=lmc)
        for n in range(size):
            await make_practice(ods_code=f"A{first + n}", lmc_code=lmc)
            await make_performer(at=f"A{first + n}")
        with StatementCounter().attached(app.state.engine) as counter:
            body = await graphql(client, query, {"code": lmc})
        assert "errors" not in body, body
        counts.append(counter.count)
    assert counts[0] == counts[1]
