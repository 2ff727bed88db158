"""A practice's backlog, in and out and per branch site, and each timer's state on a movement."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from pcse_kit.db import StatementCounter
from pcse_kit.testing import graphql
from records.models import MovementReason, MovementStatus, Urgency
from records.timers import add_working_days

if TYPE_CHECKING:
    import httpx
    from fastapi import FastAPI

S = MovementStatus
COUNTS = "open awaitingCollection inTransit missing overdue ages { label count }"
BACKLOG = f"""
query ($reps: [_Any!]!) {{
  _entities(representations: $reps) {{
    ... on Practice {{
      odsCode
      recordsBacklog {{
        incoming {{ {COUNTS} }}
        outgoing {{ {COUNTS} }}
        sites {{ siteCode incoming {{ open }} outgoing {{ open awaitingCollection }} }}
      }}
    }}
  }}
}}
"""
TIMERS = """
query ($reps: [_Any!]!) {
  _entities(representations: $reps) {
    ... on Practice {
      recordMovements(first: 50) {
        nodes { movementNumber breachedTimers timers { kind startedOn dueOn stoppedOn state } }
      }
    }
  }
}
"""


def reps(*codes: str) -> dict[str, Any]:
    return {"reps": [{"__typename": "Practice", "odsCode": code} for code in codes]}


def ages(counts: dict[str, Any]) -> dict[str, int]:
    return {bucket["label"]: bucket["count"] for bucket in counts["ages"] if bucket["count"]}


async def test_the_backlog_counts_open_movements_by_stage_age_and_site(
    make_movement: Any, client: httpx.AsyncClient
) -> None:
    now = datetime.now(UTC)
    await make_movement(status=S.REQUESTED, requested_days_ago=3)
    await make_movement(
        status=S.COLLECTED, requested_days_ago=35, collected_at=now - timedelta(days=30)
    )
    await make_movement(
        status=S.MISSING, receiver="A81001", receiver_site_code="A81001002", requested_days_ago=90
    )
    await make_movement(
        status=S.READY_FOR_COLLECTION,
        sender="A81001",
        sender_site_code="A81001001",
        receiver="C83003",
        requested_days_ago=20,
    )
    await make_movement(status=S.DELIVERED, sender="A81001", receiver="C83003")  # closed
    await make_movement(status=S.REQUESTED, sender="B82002", receiver="C83003")  # not A81001's

    body = await graphql(client, BACKLOG, reps("A81001"))

    backlog = body["data"]["_entities"][0]["recordsBacklog"]
    incoming, outgoing = backlog["incoming"], backlog["outgoing"]
    assert {k: v for k, v in incoming.items() if k != "ages"} == {
        "open": 3,
        "awaitingCollection": 1,
        "inTransit": 1,
        "missing": 1,
        "overdue": 1,  # delivery: collected 30 days ago
    }
    assert ages(incoming) == {"under 2 weeks": 1, "4 to 8 weeks": 1, "8 weeks to 6 months": 1}
    assert (outgoing["open"], outgoing["awaitingCollection"], ages(outgoing)) == (
        1,
        1,
        {"2 to 4 weeks": 1},
    )
    nothing = {"open": 0, "awaitingCollection": 0}
    assert backlog["sites"] == [
        {"siteCode": "A81001001", "incoming": {"open": 0}, "outgoing": {**nothing, "open": 1,
                                                                         "awaitingCollection": 1}},
        {"siteCode": "A81001002", "incoming": {"open": 1}, "outgoing": nothing},
    ]  # fmt: skip


async def test_backlogs_of_many_practices_cost_one_statement(
    app: FastAPI, make_movement: Any, client: httpx.AsyncClient
) -> None:
    codes = [f"A{81001 + i}" for i in range(30)]
    for code in codes:
        await make_movement(sender="Y00001", receiver=code)

    counts = []
    for batch in (codes[:1], codes):
        with StatementCounter().attached(app.state.engine) as counter:
            body = await graphql(client, BACKLOG, reps(*batch))
        assert all(e["recordsBacklog"]["incoming"]["open"] == 1 for e in body["data"]["_entities"])
        counts.append(counter.count)

    assert counts == [1, 1]


async def test_each_timer_shows_its_working_day_due_date_and_state(
    make_movement: Any, client: httpx.AsyncClient
) -> None:
    christmas_eve = datetime(2025, 12, 24, 10, tzinfo=UTC)
    await make_movement(
        status=S.COLLECTED,
        requested_at=christmas_eve - timedelta(days=5),
        deducted_on=date(2025, 12, 19),
        label_issued_on=date(2025, 12, 22),
        collected_at=christmas_eve,
        urgency=Urgency.URGENT,
    )
    await make_movement(
        status=S.NO_PAPER_RECORD,
        requested_at=christmas_eve,
        gp2gp_started_on=date(2025, 12, 23),
        gp2gp_integrated_on=date(2026, 1, 8),
    )
    await make_movement(
        status=S.REQUESTED, requested_at=christmas_eve, search_started_on=date(2025, 12, 23)
    )
    await make_movement(
        status=S.MISSING,
        requested_at=christmas_eve - timedelta(days=40),
        status_changed_at=christmas_eve,
    )
    await make_movement(
        status=S.READY_FOR_COLLECTION,
        requested_at=christmas_eve - timedelta(days=3),
        ready_at=christmas_eve,
    )
    await make_movement(
        status=S.IN_PROGRESS, requested_at=christmas_eve, reason=MovementReason.REQUEST
    )

    body = await graphql(client, TIMERS, reps("A81001"))

    nodes = body["data"]["_entities"][0]["recordMovements"]["nodes"]
    found = {
        timer["kind"]: (timer["dueOn"], timer["stoppedOn"], timer["state"])
        for node in nodes
        for timer in node["timers"]
    }
    assert found == {
        # 20 working days from Friday 19 Dec: 25, 26 Dec and 1 Jan do not count.
        "LABEL": ("2026-01-21", "2025-12-22", "MET"),
        # 10 working days from Christmas Eve: 12 Jan; still not delivered.
        "DELIVERY": ("2026-01-12", None, "BREACHED"),
        # The urgent target, 5 working days from 19 Dec: 30 Dec.
        "URGENT": ("2025-12-30", None, "BREACHED"),
        # The end of day 8 (calendar days) after 23 Dec: 31 Dec; integrated on 8 Jan, late.
        "GP2GP": ("2025-12-31", "2026-01-08", "LATE"),
        # Ready on Wednesday 24 Dec: collected the following week, 29 Dec to 2 Jan (1 Jan a
        # bank holiday), so due by Friday 2 Jan; never collected.
        "COLLECTION": ("2026-01-02", None, "BREACHED"),
        # A routine request, 30 working days from 24 Dec: 29-31 Dec and 2 Jan are 4, then
        # five full weeks to 6 Feb are 29, and Monday 9 Feb the 30th.
        "REQUEST": ("2026-02-09", None, "BREACHED"),
        # 5 working days' search from 23 Dec: 2 Jan, and still searching.
        "SEARCH": ("2026-01-02", None, "BREACHED"),
        # Six calendar months missing: lost.
        "LOST": ("2026-06-24", None, "BREACHED"),
    }
    breached = sorted(kind for node in nodes for kind in node["breachedTimers"])
    assert breached == ["COLLECTION", "DELIVERY", "GP2GP", "LOST", "REQUEST", "SEARCH", "URGENT"]
    assert add_working_days(date(2025, 12, 19), 20) == date(2026, 1, 21)
