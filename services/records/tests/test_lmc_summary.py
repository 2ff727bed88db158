"""The LMC summary: counts across an area, never a patient identifier; and its directory."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pytest
from pcse_kit.dates import today
from pcse_kit.db import StatementCounter
from pcse_kit.events import Event, MalformedEvent
from pcse_kit.testing import Token, graphql, owner_sessionmaker
from records import directory, trends
from records.demo import seed_demo
from records.models import (
    HarmGrade,
    HarmReview,
    Incident,
    IncidentKind,
    Movement,
    MovementCount,
    MovementStatus,
    PracticeDirectory,
)
from records.timers import TimerKind
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
        open { open awaitingCollection inTransit missing lost inStorage wrongRecord overdue
               ages { label count } }
        overdueByTimer { timer count }
        incidentsByKind { kind count }
        harmReviews { total reviewed outstanding overdue byGrade { grade count }
                      patientsInformed nhsEnglandNotified minutesSpent }
        practices { odsCode name open awaitingCollection inTransit overdue incidents
                    harmReviewsOutstanding }
      }
    }
  }
}
"""
SUMMARY_WITH_TRENDS = SUMMARY.replace(
    "practiceCount",
    "practiceCount trends { kind months { month count englandMedianPer100Practices } }",
)
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
                due_on=now.date() + timedelta(days=30),
                harm_grade=HarmGrade.LOW,
                patient_informed=True,
                minutes_spent=45,
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
    # Open: the request within the area (once), the record collected for A81001, and the one
    # archived instead of reaching B82002, which stays in the backlog under its own stage.
    assert {k: v for k, v in summary["open"].items() if k != "ages"} == {
        "open": 3,
        "awaitingCollection": 1,
        "inTransit": 1,
        "missing": 0,
        "lost": 0,
        "inStorage": 1,
        "wrongRecord": 0,
        "overdue": 1,
    }
    overdue = {c["timer"]: c["count"] for c in summary["overdueByTimer"] if c["count"]}
    assert overdue == {"DELIVERY": 1}
    assert {c["kind"]: c["count"] for c in summary["incidentsByKind"] if c["count"]} == {
        "ERRONEOUS_ARCHIVING": 1,
    }
    assert len(summary["incidentsByKind"]) == len(IncidentKind)
    assert summary["harmReviews"] == {
        "total": 1,
        "reviewed": 1,
        "outstanding": 0,
        "overdue": 0,
        "byGrade": [
            {"grade": "NONE", "count": 0},
            {"grade": "LOW", "count": 1},
            {"grade": "MODERATE", "count": 0},
            {"grade": "SEVERE", "count": 0},
            {"grade": "FATAL", "count": 0},
        ],
        "patientsInformed": 1,
        "nhsEnglandNotified": 0,
        "minutesSpent": 45,
    }
    assert summary["practices"] == [
        {"odsCode": "A81001", "name": "Abbey Fields", "open": 2, "awaitingCollection": 1,
         "inTransit": 1, "overdue": 1, "incidents": 0, "harmReviewsOutstanding": 0},
        {"odsCode": "B82002", "name": "Bramble Lane", "open": 2, "awaitingCollection": 1,
         "inTransit": 0, "overdue": 0, "incidents": 1, "harmReviewsOutstanding": 0},
    ]  # fmt: skip
    assert not TEN_DIGITS.search(str(body))


@pytest.fixture
async def leeds(app: FastAPI, make_directory_entry: Any, make_movement: Any) -> None:
    """leeds: L81001, L81002 and L81003 (nothing moving); york: Y82001 and Y82002. Each open
    movement is of another age band, five are open and four of those overdue, one on two
    timers; one within the area goes each way."""
    for ods, name in (("L81001", "Lark Rise"), ("L81002", "Linden"), ("L81003", "Larch")):
        await make_directory_entry(ods_code=ods, lmc_code="leeds", name=name)
    for ods in ("Y82001", "Y82002"):
        await make_directory_entry(ods_code=ods, lmc_code="york")
    now = datetime.now(UTC)
    yesterday = now.date() - timedelta(days=1)
    # 1. Within the area, 5 days old, its label a day late.
    await make_movement(sender="L81001", receiver="L81002", status=S.REQUESTED,
                        requested_days_ago=5, label_due_on=yesterday)  # fmt: skip
    # 2. From outside, 20 days old, delivery a day late.
    arriving = await make_movement(sender="Y82001", receiver="L81001", status=S.COLLECTED,
                                   requested_days_ago=20, collected_at=now - timedelta(days=15),
                                   delivery_due_on=yesterday)  # fmt: skip
    # 3. From central storage (no sending practice), 40 days old, late on two timers.
    await make_movement(sender=None, receiver="L81002", status=S.REQUESTED,
                        requested_days_ago=40, urgent_due_on=yesterday,
                        gp2gp_due_on=yesterday)  # fmt: skip
    # 4. Out of the area, 100 days old, missing, its search and the lost timer still running.
    await make_movement(sender="L81002", receiver="Y82001", status=S.MISSING,
                        requested_days_ago=100)  # fmt: skip
    # 5. Delivered: closed.
    await make_movement(sender="L81001", receiver="Y82001", status=S.DELIVERED,
                        requested_days_ago=3)  # fmt: skip
    # 6. Beyond the area.
    await make_movement(sender="Y82001", receiver="Y82002", status=S.REQUESTED)
    # 7. Within the area the other way, 200 days old, ready 20 days ago and not collected.
    await make_movement(sender="L81002", receiver="L81001", status=S.READY_FOR_COLLECTION,
                        requested_days_ago=200, ready_at=now - timedelta(days=20))  # fmt: skip
    async with app.state.sessionmaker.begin() as session:
        movement_id = await session.scalar(
            select(Movement.id).where(Movement.movement_number == arriving)
        )
        assert movement_id is not None
        incident = Incident(reference="INC-TEST000002", kind=IncidentKind.EMPTY_ENVELOPE,
                            movement_id=movement_id, ods_code="L81001", reported_at=now,
                            reported_by="test", detail="Nothing inside.")  # fmt: skip
        session.add(incident)
        await session.flush()
        for nhs_number, grade in (("9990000018", None), ("9990000026", None),
                                  ("9990000034", HarmGrade.NONE)):  # fmt: skip
            session.add(HarmReview(incident_id=incident.id, movement_id=movement_id,
                                   ods_code="L81003", nhs_number=nhs_number,
                                   due_on=yesterday, harm_grade=grade,
                                   reviewer=None if grade is None else "Dr B",
                                   reviewed_on=None if grade is None else now.date()))  # fmt: skip


@pytest.mark.usefixtures("leeds")
async def test_every_figure_of_the_summary_counts_each_movement_where_it_should(
    client: httpx.AsyncClient, token: Token
) -> None:
    body = await graphql(client, SUMMARY, lmc("leeds"), token=token("lmc", ["leeds"]))

    assert "errors" not in body, body
    summary = body["data"]["_entities"][0]["recordsSummary"]
    assert summary["practiceCount"] == 3
    # Open in the area, each once: 1, 2, 3, 4 and 7 (2 + 1 + 2 within it, counted with the
    # sender; 2 and 3 from outside it; 4 out of it).
    assert {k: v for k, v in summary["open"].items() if k != "ages"} == {
        "open": 5,
        "awaitingCollection": 3,  # 1, 3, 7
        "inTransit": 1,  # 2
        "missing": 1,  # 4
        "lost": 0,
        "inStorage": 0,
        "wrongRecord": 0,
        "overdue": 4,  # 1, 2, 3, 7
    }
    assert [(a["label"], a["count"]) for a in summary["open"]["ages"]] == [
        ("under 2 weeks", 1),  # 1: 5 days
        ("2 to 4 weeks", 1),  # 2: 20 days
        ("4 to 8 weeks", 1),  # 3: 40 days
        ("8 weeks to 6 months", 1),  # 4: 100 days
        ("6 months or more", 1),  # 7: 200 days
    ]
    assert {c["timer"]: c["count"] for c in summary["overdueByTimer"]} == {
        "LABEL": 1,  # 1
        "DELIVERY": 1,  # 2
        "GP2GP": 1,  # 3
        "URGENT": 1,  # 3 again
        "SEARCH": 0,
        "LOST": 0,
        "COLLECTION": 1,  # 7
        "REQUEST": 0,
    }
    assert {c["kind"]: c["count"] for c in summary["incidentsByKind"] if c["count"]} == {
        "EMPTY_ENVELOPE": 1
    }
    assert {k: summary["harmReviews"][k] for k in ("total", "reviewed", "outstanding")} == {
        "total": 3,
        "reviewed": 1,
        "outstanding": 2,
    }
    # In and out of each practice: a movement within the area counts at both ends.
    assert summary["practices"] == [
        # Out: 1 (awaiting, late). In: 2 (in transit, late), 7 (awaiting, late).
        {"odsCode": "L81001", "name": "Lark Rise", "open": 3, "awaitingCollection": 2,
         "inTransit": 1, "overdue": 3, "incidents": 1, "harmReviewsOutstanding": 0},
        # In: 1 (awaiting, late), 3 (awaiting, late). Out: 4 (missing), 7 (awaiting, late).
        {"odsCode": "L81002", "name": "Linden", "open": 4, "awaitingCollection": 3,
         "inTransit": 0, "overdue": 3, "incidents": 0, "harmReviewsOutstanding": 0},
        {"odsCode": "L81003", "name": "Larch", "open": 0, "awaitingCollection": 0,
         "inTransit": 0, "overdue": 0, "incidents": 0, "harmReviewsOutstanding": 2},
    ]  # fmt: skip


@pytest.mark.usefixtures("leeds")
@pytest.mark.parametrize(
    "fields",
    ["odsCode", "odsCode open overdue", "incidents", "harmReviewsOutstanding name",
     "... on PracticeRecordsSummary { inTransit } odsCode"],
)  # fmt: skip
async def test_each_practice_field_is_the_same_asked_alone(
    client: httpx.AsyncClient, token: Token, fields: str
) -> None:
    query = SUMMARY.replace(SUMMARY[SUMMARY.index("practices {") :].split("}", 1)[0],
                            f"practices {{ {fields} ")  # fmt: skip
    alone = await graphql(client, query, lmc("leeds"), token=token("lmc", ["leeds"]))
    whole = await graphql(client, SUMMARY, lmc("leeds"), token=token("lmc", ["leeds"]))

    assert "errors" not in alone, alone
    practices = alone["data"]["_entities"][0]["recordsSummary"]["practices"]
    expected = whole["data"]["_entities"][0]["recordsSummary"]["practices"]
    assert practices == [{k: p[k] for k in practices[0]} for p in expected]
    assert len(practices[0]) == len(fields.replace("... on PracticeRecordsSummary {", "")
                                     .replace("}", "").split())  # fmt: skip


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
      harmReviews { progress { total outstanding byGrade { grade count } } }
    } } }
    """
    codes = ["A81001", "F83424", "B81940"]
    reps = {"reps": [{"__typename": "Practice", "odsCode": code} for code in codes]}
    body = await graphql(client, query, reps)

    practices = body["data"]["_entities"]
    movements = [n for p in practices for n in p["recordMovements"]["nodes"]]
    assert {n["status"] for n in movements} == {s.name for s in S}
    assert {t for n in movements for t in n["breachedTimers"]} == {k.name for k in TimerKind}
    assert {n["kind"] for p in practices for n in p["recordIncidents"]["nodes"]} == {
        k.name for k in IncidentKind
    }
    for practice in practices:
        # Four archived records (three reviewed once released) and one patient from NHS
        # England's list.
        progress = practice["harmReviews"]["progress"]
        assert (progress["total"], progress["outstanding"]) == (5, 2)
        assert {g["grade"]: g["count"] for g in progress["byGrade"] if g["count"]} == {
            "NONE": 1,
            "LOW": 1,
            "MODERATE": 1,
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


TRENDS = """
query ($reps: [_Any!]!) {
  _entities(representations: $reps) {
    ... on Lmc {
      recordsSummary {
        trends(months: 2) {
          kind months { month count suppressed per100Practices englandMedianPer100Practices }
        }
      }
    }
  }
}
"""


@pytest.mark.parametrize(
    ("count", "shown"),
    [(0, 0), (1, None), (7, None), (8, 10), (12, 10), (13, 15), (17, 15), (18, 20), (100, 100)],
)
def test_small_counts_are_suppressed_and_the_rest_rounded_to_the_nearest_five(
    count: int, shown: int | None
) -> None:
    assert trends.suppress(count) == shown


async def _incidents(
    app: FastAPI, make_movement: Any, ods: str, kind: IncidentKind, n: int
) -> None:
    for _ in range(n):
        number = await make_movement(sender=ods, receiver="Y00001")
        async with app.state.sessionmaker.begin() as session:
            movement_id = await session.scalar(
                select(Movement.id).where(Movement.movement_number == number)
            )
            session.add(
                Incident(
                    reference=f"INC-T{uuid.uuid4().hex[:10].upper()}",
                    kind=kind,
                    movement_id=movement_id,
                    ods_code=ods,
                    reported_at=datetime.now(UTC),
                    reported_by="test",
                    detail="x",
                )
            )


async def test_trends_show_each_problem_by_month_suppressed_beside_englands_median(
    app: FastAPI,
    make_directory_entry: Any,
    make_movement: Any,
    client: httpx.AsyncClient,
    token: Token,
) -> None:
    # kernow: 2 practices; essex: 1; humberside: 4.
    for ods, area in (("A81001", "kernow"), ("B82002", "kernow"), ("C83003", "essex"),
                      ("D84004", "humberside"), ("E85005", "humberside"),
                      ("F86006", "humberside"), ("G87007", "humberside")):  # fmt: skip
        await make_directory_entry(ods_code=ods, lmc_code=area)
    wrong, incomplete = IncidentKind.LABEL_WRONG, IncidentKind.INCOMPLETE_RECORD
    for ods, kind, n in (("A81001", wrong, 9), ("B82002", wrong, 3), ("C83003", wrong, 13),
                         ("D84004", wrong, 8), ("A81001", incomplete, 3)):  # fmt: skip
        await _incidents(app, make_movement, ods, kind, n)
    trends.forget_medians()

    body = await graphql(client, TRENDS, lmc("kernow"), token=token("lmc", ["kernow"]))

    found = {
        t["kind"]: t["months"] for t in body["data"]["_entities"][0]["recordsSummary"]["trends"]
    }
    this_month = today().replace(day=1)
    last_month = (this_month - timedelta(days=1)).replace(day=1)

    def point(month: date, count: int | None, rate: float | None, median: float) -> Any:
        return {"month": month.isoformat(), "count": count, "suppressed": count is None,
                "per100Practices": rate, "englandMedianPer100Practices": median}  # fmt: skip

    # Labels wrong this month: kernow 9 + 3 = 12, shown as 10, so 10 x 100 / 2 practices = 500
    # per 100 practices. England's median of the LMCs' rates: kernow 12 x 100 / 2 = 600, essex
    # 13 x 100 / 1 = 1300, humberside 8 x 100 / 4 = 200: the median is 600.
    assert found["LABEL_WRONG"] == [point(last_month, 0, 0.0, 0.0),
                                    point(this_month, 10, 500.0, 600.0)]  # fmt: skip
    # Incomplete records: kernow's 3 are suppressed; England's rates 150, 0 and 0: median 0.
    assert found["INCOMPLETE_RECORD"] == [point(last_month, 0, 0.0, 0.0),
                                          point(this_month, None, None, 0.0)]  # fmt: skip
    assert all(
        months == [point(last_month, 0, 0.0, 0.0), point(this_month, 0, 0.0, 0.0)]
        for kind, months in found.items()
        if kind not in {"LABEL_WRONG", "INCOMPLETE_RECORD"}
    )
    assert len(found) == len(IncidentKind)


async def test_the_whole_summary_costs_the_same_statements_for_any_number_of_practices(
    app: FastAPI, make_directory_entry: Any, make_movement: Any, client: httpx.AsyncClient
) -> None:
    for i in range(20):
        ods = f"H{81000 + i}"
        await make_directory_entry(ods_code=ods, lmc_code="big" if i else "small")
        await make_movement(sender=ods, receiver="Y00001")
    counts = []
    for area in ("small", "big"):
        trends.forget_medians()  # the worst case: England's medians worked out again
        with StatementCounter().attached(app.state.engine) as counter:
            body = await graphql(client, SUMMARY_WITH_TRENDS, lmc(area))
        assert "errors" not in body, body
        counts.append(counter.count)
    # The directory's practices, status counts, the open movements (two parts, each a setting
    # and a statement), incidents, harm reviews, the area's incident months and England's.
    assert counts[0] == counts[1] == 10
