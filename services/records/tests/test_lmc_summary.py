"""The LMC summary: counts across an area, never a patient identifier; and its directory."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pytest
from pcse_kit.events import Event, MalformedEvent
from pcse_kit.testing import Token, graphql, owner_sessionmaker
from records import directory
from records.demo import seed_demo
from records.models import (
    HarmOutcome,
    HarmReview,
    Incident,
    IncidentKind,
    Movement,
    MovementCount,
    MovementStatus,
    PracticeDirectory,
)
from sqlalchemy import delete, func, literal, select, union_all, update

if TYPE_CHECKING:
    import httpx
    from fastapi import FastAPI

S = MovementStatus
SUMMARY = """
query ($reps: [_Any!]!) {
  _entities(representations: $reps) {
    ... on Lmc {
      code
      recordsSummary {
        practiceCount
        statusCounts { status incoming outgoing }
        open { open awaitingCollection inTransit missing overdue ages { label count } }
        overdueByTimer { timer count }
        incidentsByKind { kind count }
        harmReviews { total reviewed outstanding noHarm harm needsFollowUp }
        practices { odsCode name open awaitingCollection inTransit overdue incidents
                    harmReviewsOutstanding }
      }
    }
  }
}
"""
# Any 10-digit run: an NHS number in any spelling.
TEN_DIGITS = re.compile(r"(?<!\d)\d{10}(?!\d)|\d{3} \d{3} \d{4}")


def lmc(code: str = "kernow") -> dict[str, Any]:
    return {"reps": [{"__typename": "Lmc", "code": code}]}


@pytest.fixture
async def area(app: FastAPI, make_directory_entry: Any, make_movement: Any) -> list[str]:
    """kernow: A81001 and B82002; essex: C83003. Movements within, into, out of and beyond."""
    await make_directory_entry(ods_code="A81001", name="Abbey Fields")
    await make_directory_entry(ods_code="B82002", name="Bramble Lane")
    await make_directory_entry(ods_code="C83003", lmc_code="essex")
    now = datetime.now(UTC)
    await make_movement(sender="B82002", receiver="A81001", status=S.REQUESTED)  # within: once
    await make_movement(
        sender="C83003",
        receiver="A81001",
        status=S.COLLECTED,
        collected_at=now - timedelta(days=30),
        requested_days_ago=40,
    )
    await make_movement(sender="A81001", receiver="C83003", status=S.DELIVERED)
    await make_movement(sender="C83003", receiver="Y00001", status=S.REQUESTED)  # beyond
    archived = await make_movement(
        sender="C83003", receiver="B82002", status=S.IN_CENTRAL_STORAGE, nhs_number="9990000026"
    )
    async with app.state.sessionmaker.begin() as session:
        movement_id = await session.scalar(
            select(Movement.id).where(Movement.movement_number == archived)
        )
        assert movement_id is not None
        incident = Incident(
            reference="INC-TEST000001",
            kind=IncidentKind.ERRONEOUS_ARCHIVING,
            movement_id=movement_id,
            ods_code="B82002",
            reported_at=now,
            reported_by="test",
            detail="Found in storage.",
        )
        session.add(incident)
        await session.flush()
        session.add(
            HarmReview(
                incident_id=incident.id,
                movement_id=movement_id,
                ods_code="B82002",
                nhs_number="9990000026",
                outcome=HarmOutcome.HARM,
                reviewer="Dr B",
                reviewed_on=now.date(),
            )
        )
    return ["A81001", "B82002"]


@pytest.mark.usefixtures("area")
async def test_an_lmc_sees_its_areas_figures_and_no_patient_identifier(
    client: httpx.AsyncClient, token: Token
) -> None:
    body = await graphql(client, SUMMARY, lmc(), token=token("lmc", ["kernow"]))

    assert "errors" not in body, body
    summary = body["data"]["_entities"][0]["recordsSummary"]
    assert summary["practiceCount"] == 2
    statuses = {
        c["status"]: (c["incoming"], c["outgoing"])
        for c in summary["statusCounts"]
        if c["incoming"] or c["outgoing"]
    }
    # The movement between A81001 and B82002 is both in and out of the area.
    assert statuses == {
        "REQUESTED": (1, 1),
        "COLLECTED": (1, 0),
        "DELIVERED": (0, 1),
        "IN_CENTRAL_STORAGE": (1, 0),
    }
    assert {k: v for k, v in summary["open"].items() if k != "ages"} == {
        "open": 2,
        "awaitingCollection": 1,
        "inTransit": 1,
        "missing": 0,
        "overdue": 1,
    }
    overdue = {c["timer"]: c["count"] for c in summary["overdueByTimer"] if c["count"]}
    assert overdue == {"DELIVERY": 1}
    assert {c["kind"]: c["count"] for c in summary["incidentsByKind"]} == {
        "WRONG_RECORD_DELIVERED": 0,
        "ERRONEOUS_ARCHIVING": 1,
        "EMPTY_ENVELOPE": 0,
    }
    assert summary["harmReviews"] == {
        "total": 1,
        "reviewed": 1,
        "outstanding": 0,
        "noHarm": 0,
        "harm": 1,
        "needsFollowUp": 0,
    }
    assert summary["practices"] == [
        {"odsCode": "A81001", "name": "Abbey Fields", "open": 2, "awaitingCollection": 1,
         "inTransit": 1, "overdue": 1, "incidents": 0, "harmReviewsOutstanding": 0},
        {"odsCode": "B82002", "name": "Bramble Lane", "open": 1, "awaitingCollection": 1,
         "inTransit": 0, "overdue": 0, "incidents": 1, "harmReviewsOutstanding": 0},
    ]  # fmt: skip
    assert not TEN_DIGITS.search(str(body))


@pytest.mark.usefixtures("area")
@pytest.mark.parametrize(
    ("role", "scope", "allowed"),
    [
        ("lmc", ["kernow"], True),
        ("operator", ["records"], True),
        ("admin", [], True),
        ("lmc", ["essex"], False),
        ("practice", ["A81001"], False),
        ("accountant", [], False),
        ("operator", ["performers"], False),
    ],
)
async def test_the_summary_is_for_the_lmc_itself_records_operators_and_admins(
    client: httpx.AsyncClient, token: Token, role: str, scope: list[str], allowed: bool
) -> None:
    body = await graphql(client, SUMMARY, lmc(), token=token(role, scope))
    summary = body["data"]["_entities"][0]["recordsSummary"]
    if allowed:
        assert summary["practiceCount"] == 2
    else:
        assert summary is None
        assert {e["extensions"]["code"] for e in body["errors"]} == {"FORBIDDEN"}


async def test_an_unknown_lmc_is_refused_like_another_lmcs(
    client: httpx.AsyncClient, token: Token
) -> None:
    body = await graphql(client, SUMMARY, lmc("nowhere"), token=token("lmc", ["kernow"]))
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    empty = await graphql(client, SUMMARY, lmc("nowhere"))  # an admin may know it is empty
    assert empty["data"]["_entities"][0]["recordsSummary"]["practiceCount"] == 0


def practice_event(
    ods_code: str, lmc_code: str, name: str, kind: str = "practice.upserted"
) -> Event:
    return Event(
        event_id=uuid.uuid4(),
        stream="performers",
        type=kind,
        key=ods_code,
        payload={"odsCode": ods_code, "lmcCode": lmc_code, "name": name, "listSize": 1},
        occurred_at=datetime.now(UTC),
        position=1,
    )


async def test_the_directory_follows_practice_upserted_and_skips_other_events(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    async with app.state.sessionmaker.begin() as session:
        await directory.apply(session, practice_event("A81001", "kernow", "Abbey Fields"))
        await directory.apply(session, practice_event("A81001", "essex", "Abbey Fields MC"))
        await directory.apply(
            session, practice_event("B82002", "kernow", "x", "membership.started")
        )

    async with app.state.sessionmaker() as session:
        rows = (await session.scalars(select(PracticeDirectory))).all()
    assert [(r.ods_code, r.lmc_code, r.name) for r in rows] == [
        ("A81001", "essex", "Abbey Fields MC")
    ]


async def test_a_malformed_practice_event_is_for_the_consumer_to_dead_letter(app: FastAPI) -> None:
    async with app.state.sessionmaker() as session:
        with pytest.raises(MalformedEvent, match="malformed"):
            await directory.apply(session, practice_event("a81001", "kernow", "Abbey"))


async def test_the_demo_has_every_status_breached_timer_and_incident_kind(
    app: FastAPI, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The demo reads the demo directory's location from the service's settings.
    monkeypatch.setenv("RECORDS_DATABASE_URL", "postgresql://unused/records")
    monkeypatch.setenv("RECORDS_AUTH_JWKS_URL", "http://unused")
    # As the tables' owner, as the service loads it: the demo sets its sequences.
    assert await seed_demo(owner_sessionmaker(app)) is True
    assert await seed_demo(owner_sessionmaker(app)) is False

    query = """
    query ($reps: [_Any!]!) { _entities(representations: $reps) { ... on Practice {
      recordMovements(first: 100) { nodes { status nhsNumber breachedTimers } }
      recordIncidents(first: 100) { nodes { kind } }
      harmReviews { progress { total outstanding noHarm harm needsFollowUp } }
    } } }
    """
    codes = ["A81001", "F83424", "B81940"]
    reps = {"reps": [{"__typename": "Practice", "odsCode": code} for code in codes]}
    body = await graphql(client, query, reps)

    practices = body["data"]["_entities"]
    movements = [n for p in practices for n in p["recordMovements"]["nodes"]]
    assert {n["status"] for n in movements} == {s.name for s in S}
    assert {t for n in movements for t in n["breachedTimers"]} == {
        "LABEL",
        "DELIVERY",
        "GP2GP",
        "URGENT",
        "SEARCH",
        "LOST",
    }
    assert {n["kind"] for p in practices for n in p["recordIncidents"]["nodes"]} == {
        k.name for k in IncidentKind
    }
    for practice in practices:
        assert practice["harmReviews"]["progress"] == {
            "total": 4,
            "outstanding": 1,
            "noHarm": 1,
            "harm": 1,
            "needsFollowUp": 1,
        }
    assert all(n["nhsNumber"] is None for n in movements)  # the admin never sees one


@pytest.mark.usefixtures("client")  # empties the tables afterwards
async def test_the_kept_counts_agree_with_the_movements_after_every_kind_of_write(
    app: FastAPI, make_movement: Any
) -> None:
    for status in (S.REQUESTED, S.REQUESTED, S.COLLECTED, S.DELIVERED):
        await make_movement(status=status)
    await make_movement(sender=None, status=S.IN_CENTRAL_STORAGE)
    async with app.state.sessionmaker.begin() as session:
        # One statement changing many rows, one moving an end, one deleting.
        await session.execute(
            update(Movement).where(Movement.status == S.REQUESTED).values(status=S.IN_PROGRESS)
        )
        await session.execute(
            update(Movement)
            .where(Movement.status == S.COLLECTED)
            .values(receiver_ods_code="C83003", status=S.MISSING)
        )
        await session.execute(delete(Movement).where(Movement.status == S.DELIVERED))

    async with app.state.sessionmaker() as session:
        ends = union_all(
            select(
                Movement.sender_ods_code.label("ods"), literal("out").label("d"), Movement.status
            ).where(Movement.sender_ods_code.is_not(None)),
            select(Movement.receiver_ods_code, literal("in"), Movement.status).where(
                Movement.receiver_ods_code.is_not(None)
            ),
        ).subquery()
        counted = {
            (ods, d, status): n
            for ods, d, status, n in await session.execute(
                select(ends.c.ods, ends.c.d, ends.c.status, func.count()).group_by(
                    ends.c.ods, ends.c.d, ends.c.status
                )
            )
        }
        kept = {
            (row.ods_code, row.direction, row.status): row.count
            for row in await session.scalars(select(MovementCount))
            if row.count
        }
    assert kept == counted
    assert counted[("B82002", "out", S.IN_PROGRESS)] == 2
    assert counted[("C83003", "in", S.MISSING)] == 1
