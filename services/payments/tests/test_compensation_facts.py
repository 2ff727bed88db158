"""Compensation from the facts other services publish: staff time on harm reviews (records) and
GP sessions lost while an application for inclusion waited beyond 16 weeks (performers), priced
at the practice's own dated costings, each loss naming its source.

The figures are worked out by hand:
- review 17: 95 minutes at £18.40 an hour = 95 x 1,840p / 60 = 2,913.33p, half up: £29.13;
- review 23: 40 minutes at £19.10 (the figure from 1 Apr 2027) = 40 x 1,910p / 60 = 1,273.33p:
  £12.73;
- request CR-2026-0042: 3 whole weeks beyond 16 x 6 sessions a week x £95.00 = £1,710.00;
- the claim: £29.13 + £12.73 + £1,710.00 = £1,751.86.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

import pytest
from payments.compensation import consumer, rules, service
from payments.models import (
    AuditEvent,
    CompensationClaim,
    CompensationFact,
    CompensationItem,
    CompensationState,
    CostingKind,
    FactKind,
    PracticeCosting,
)
from pcse_kit.auth import Forbidden, Principal, Role
from pcse_kit.errors import BadUserInput
from pcse_kit.events import Event, MalformedEvent
from pcse_kit.testing import Token, graphql
from sqlalchemy import func, select

if TYPE_CHECKING:
    import httpx
    from fastapi import FastAPI

MANAGER = Principal(subject="manager@a81001", role=Role.PRACTICE, scope=frozenset({"A81001"}))
OTHER = Principal(subject="manager@b82002", role=Role.PRACTICE, scope=frozenset({"B82002"}))


def _event(stream: str, type_: str, payload: dict[str, Any], at: datetime) -> Event:
    return Event(
        event_id=uuid.uuid4(), stream=stream, type=type_, key=str(payload.get("odsCode")),
        payload=payload, occurred_at=at, position=1,
    )  # fmt: skip


def review(
    review_id: int, minutes: int, *, reviewed_on: str | None, completed: bool
) -> dict[str, Any]:
    return {
        "reviewId": review_id, "odsCode": "A81001", "source": "detected", "dueOn": "2026-11-30",
        "harmGrade": "none" if completed else None, "completed": completed,
        "patientInformed": False, "nhsEnglandNotified": False, "minutesSpent": minutes,
        "reviewer": "Practice manager", "reviewedOn": reviewed_on,
    }  # fmt: skip


GOODWILL = {
    "reference": "CR-2026-0042", "kind": "inclusion", "gmcNumber": "7123456", "odsCode": "A81001",
    "lmcCode": "kernow", "submittedOn": "2026-03-02", "completeOn": "2026-03-09",
    "decidedOn": "2026-07-20", "outcome": "approved", "sixteenWeeksPassedOn": "2026-06-29",
    "daysBeyondSixteenWeeks": 21, "weeksBeyondSixteen": 3,
}  # fmt: skip


async def _apply(app: FastAPI, *events: Event) -> None:
    for event in events:
        async with app.state.sessionmaker.begin() as session:
            await consumer.apply(session, event)


@pytest.fixture
async def facts(app: FastAPI, make_practice: Any, client: httpx.AsyncClient) -> None:
    """A81001's harm reviews 17 (60 then 95 minutes in all, completed 2 Nov 2026) and 23 (40
    minutes, 5 Apr 2027), and its GP's application decided 3 weeks beyond 16."""
    await make_practice(ods_code="A81001", lmc_code="kernow")
    await make_practice(ods_code="B82002", lmc_code="essex")
    t = datetime(2026, 11, 2, 9, tzinfo=UTC)
    await _apply(
        app,
        _event("records", "harm_review.recorded", review(17, 60, reviewed_on=None,
                                                          completed=False), t),
        _event("records", "harm_review.recorded", review(17, 95, reviewed_on="2026-11-02",
                                                          completed=True), t.replace(hour=11)),
        _event("records", "harm_review.recorded", review(23, 40, reviewed_on="2027-04-05",
                                                          completed=True), t.replace(year=2027)),
        _event("performers", "change_request.goodwill_compensation_may_apply", GOODWILL, t),
    )  # fmt: skip


async def _costing(app: FastAPI, kind: CostingKind, pence: int, on: date, key: str) -> None:
    await service.set_costing(
        app.state.sessionmaker, MANAGER, ods_code="A81001", kind=kind, amount_pence=pence,
        effective_from=on, basis="Payroll cost, band 4 administrator with on-costs",
        idempotency_key=key, today=date(2027, 4, 10),
    )  # fmt: skip


async def test_the_latest_harm_review_event_wins_and_a_late_older_one_changes_nothing(
    app: FastAPI, facts: None
) -> None:
    # The first event for review 17 (60 minutes) arrives again, late: 95 minutes stays.
    await _apply(
        app,
        _event("records", "harm_review.recorded", review(17, 60, reviewed_on=None,
                                                          completed=False),
               datetime(2026, 11, 2, 9, tzinfo=UTC)),
        _event("records", "harm_review.opened", {"odsCode": "A81001"},
               datetime(2026, 11, 3, tzinfo=UTC)),  # not ours: skipped
    )  # fmt: skip
    async with app.state.sessionmaker() as session:
        rows = list(await session.scalars(select(CompensationFact).order_by(CompensationFact.id)))
    assert [(r.kind, r.stream, r.event_type, r.source_key, r.on, r.minutes_spent, r.weeks_beyond)
            for r in rows] == [
        (FactKind.HARM_REVIEW, "records", "harm_review.recorded", "17", date(2026, 11, 2), 95,
         None),
        (FactKind.HARM_REVIEW, "records", "harm_review.recorded", "23", date(2027, 4, 5), 40,
         None),
        (FactKind.INCLUSION_DELAY, "performers", "change_request.goodwill_compensation_may_apply",
         "CR-2026-0042", date(2026, 6, 29), None, 3),
    ]  # fmt: skip
    # The GP's number stays with the performers service.
    assert "gmcNumber" not in rows[2].facts


@pytest.mark.parametrize(
    "payload",
    [
        {**review(31, -5, reviewed_on=None, completed=False)},
        {**review(31, 5, reviewed_on=None, completed=False), "odsCode": "NOT-A-CODE"},
        {**review(31, 5, reviewed_on="yesterday", completed=True)},
        {"odsCode": "A81001"},
    ],
)
async def test_an_unreadable_payload_is_dead_lettered(
    app: FastAPI, facts: None, payload: dict[str, Any]
) -> None:
    with pytest.raises(MalformedEvent):
        await _apply(app, _event("records", "harm_review.recorded", payload, datetime.now(UTC)))


def test_the_arithmetic_by_hand() -> None:
    assert rules.staff_time_pence(95, hourly_pence=18_40) == 29_13
    assert rules.staff_time_pence(40, hourly_pence=19_10) == 12_73
    assert rules.staff_time_pence(3, hourly_pence=10_00) == 50  # 3 x 1,000 / 60 = 50 exactly
    assert rules.staff_time_pence(1, hourly_pence=10_50) == 18  # 17.5p, half up
    assert rules.sessions_lost_pence(3, sessions_a_week=6, session_pence=95_00) == 1_710_00


async def test_a_claim_from_the_facts_priced_at_the_practices_dated_costings(
    app: FastAPI, facts: None
) -> None:
    # Without a session value in force on 29 Jun 2026 (the first fact), nothing is claimed.
    with pytest.raises(BadUserInput) as refused:
        await service.open_facts_claim(
            app.state.sessionmaker, MANAGER, ods_code="A81001", sessions_a_week=6,
            idempotency_key="facts-claim-early", today=date(2027, 4, 10),
        )  # fmt: skip
    assert "session value in force on 2026-06-29" in refused.value.message
    await _costing(app, CostingKind.STAFF_HOUR, 18_40, date(2026, 4, 1), "costing-hour-1")
    await _costing(app, CostingKind.STAFF_HOUR, 19_10, date(2027, 4, 1), "costing-hour-2")
    await _costing(app, CostingKind.GP_SESSION, 95_00, date(2026, 1, 1), "costing-session-1")

    written = await service.open_facts_claim(
        app.state.sessionmaker, MANAGER, ods_code="A81001", sessions_a_week=6,
        idempotency_key="facts-claim-1", today=date(2027, 4, 10),
    )  # fmt: skip
    replay = await service.open_facts_claim(
        app.state.sessionmaker, MANAGER, ods_code="A81001", sessions_a_week=6,
        idempotency_key="facts-claim-1", today=date(2027, 4, 10),
    )  # fmt: skip
    assert replay == written
    async with app.state.sessionmaker() as session:
        claim, items = await _claim(session, written.key)
    assert (claim.state, claim.annual_rate, claim.claimed_pence) == (
        CompensationState.DRAFT, None, 1_751_86,
    )  # fmt: skip
    assert [(i.kind.value, i.amount_pence, i.source) for i in items] == [
        ("sessions_lost", 1_710_00, "performers stream, "
         "change_request.goodwill_compensation_may_apply, change request CR-2026-0042"),
        ("staff_time", 29_13, "records stream, harm_review.recorded, review 17"),
        ("staff_time", 12_73, "records stream, harm_review.recorded, review 23"),
    ]  # fmt: skip
    assert "never due" in items[0].description
    assert "95 minutes at £18.40 an hour (the practice's own costing)" in items[1].description

    # Everything is now in a claim: a second one has nothing to rest on.
    with pytest.raises(BadUserInput):
        await service.open_facts_claim(
            app.state.sessionmaker, MANAGER, ods_code="A81001", sessions_a_week=6,
            idempotency_key="facts-claim-2", today=date(2027, 4, 10),
        )  # fmt: skip
    # It moves through the same states as any claim: submitted, offered, accepted.
    for state, on, offered in (
        (CompensationState.SUBMITTED, date(2027, 4, 12), None),
        (CompensationState.OFFERED, date(2027, 5, 20), 1_200_00),
        (CompensationState.ACCEPTED, date(2027, 5, 25), None),
    ):
        await service.record_step(
            app.state.sessionmaker, MANAGER, reference=written.key, state=state, on=on,
            offered_pence=offered, note=None, idempotency_key=f"facts-step-{state.value}",
            today=date(2027, 6, 1),
        )  # fmt: skip
    async with app.state.sessionmaker() as session:
        claim, _ = await _claim(session, written.key)
        audited = await session.scalar(
            select(func.count())
            .select_from(AuditEvent)
            .where(AuditEvent.c.action == "set_compensation_costing")
        )
    assert (claim.state, claim.offered_pence) == (CompensationState.ACCEPTED, 1_200_00)
    assert audited == 3


async def _claim(session: Any, reference: str) -> tuple[Any, list[Any]]:
    claim = await session.scalar(
        select(CompensationClaim).where(CompensationClaim.reference == reference)
    )
    items = list(
        await session.scalars(
            select(CompensationItem)
            .where(CompensationItem.claim_id == claim.id)
            .order_by(CompensationItem.kind, CompensationItem.id)
        )
    )
    return claim, items


async def test_without_sessions_a_week_only_staff_time_is_claimed(
    app: FastAPI, facts: None
) -> None:
    await _costing(app, CostingKind.STAFF_HOUR, 18_40, date(2026, 4, 1), "costing-hour-3")
    written = await service.open_facts_claim(
        app.state.sessionmaker, MANAGER, ods_code="A81001", sessions_a_week=None,
        idempotency_key="facts-claim-3", today=date(2027, 4, 10),
    )  # fmt: skip
    async with app.state.sessionmaker() as session:
        claim, items = await _claim(session, written.key)
    # 95 minutes and 40 minutes, both at £18.40 (no later figure): £29.13 + 40 x 1,840 / 60
    # = 1,226.67p, £12.27.
    assert [i.amount_pence for i in items] == [29_13, 12_27]
    assert claim.claimed_pence == 41_40


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"amount_pence": 0}, "amount"),
        ({"amount_pence": 5_000_01}, "amount"),
        ({"effective_from": date(2015, 8, 31)}, "effectiveFrom"),
        ({"effective_from": date(2028, 4, 11)}, "effectiveFrom"),
        ({"basis": "Reviewed for 943 476 5919"}, "basis"),
    ],
)
async def test_bad_costings_are_refused_with_their_field_and_nothing_is_written(
    app: FastAPI, facts: None, changes: dict[str, Any], field: str
) -> None:
    arguments: dict[str, Any] = {
        "ods_code": "A81001", "kind": CostingKind.STAFF_HOUR, "amount_pence": 18_40,
        "effective_from": date(2026, 4, 1), "basis": "Payroll", "idempotency_key": "bad-cost-1",
        "today": date(2027, 4, 10),
    }  # fmt: skip
    arguments.update(changes)
    with pytest.raises(BadUserInput) as refused:
        await service.set_costing(app.state.sessionmaker, MANAGER, **arguments)
    assert refused.value.field == field
    with pytest.raises(BadUserInput) as refused:
        await service.open_facts_claim(
            app.state.sessionmaker, MANAGER, ods_code="A81001", sessions_a_week=11,
            idempotency_key="bad-claim-1", today=date(2027, 4, 10),
        )  # fmt: skip
    assert refused.value.field == "sessionsAWeek"
    with pytest.raises(Forbidden):
        await service.set_costing(
            app.state.sessionmaker,
            OTHER,
            **{
                **arguments,
                **{"amount_pence": 18_40, "effective_from": date(2026, 4, 1), "basis": "Payroll"},
            },
        )
    async with app.state.sessionmaker() as session:
        assert await session.scalar(select(func.count()).select_from(PracticeCosting)) == 0


FACTS_QUERY = """
query {
  _entities(representations: [{__typename: "Practice", odsCode: "A81001"}]) {
    ... on Practice { payments {
      compensationFacts { kind sourceStream sourceEventType sourceKey on minutesSpent
        staffTimeAmount claimReference }
      compensationCostings { kind amount effectiveFrom basis }
    } }
  }
}
"""


async def test_the_practice_sees_its_facts_with_their_source_and_another_does_not(
    app: FastAPI, facts: None, client: httpx.AsyncClient, token: Token
) -> None:
    body = await graphql(
        client,
        """mutation { setCompensationCosting(input: {odsCode: "A81001", kind: STAFF_HOUR,
          amount: "18.40", effectiveFrom: "2026-04-01", basis: "Payroll cost, band 4",
          idempotencyKey: "costing-gql-1"}) { kind amount effectiveFrom } }""",
        token=token("practice", ["A81001"]),
    )
    assert body == {"data": {"setCompensationCosting": {
        "kind": "STAFF_HOUR", "amount": "18.40", "effectiveFrom": "2026-04-01"}}}  # fmt: skip
    mine = await graphql(client, FACTS_QUERY, token=token("practice", ["A81001"]))
    payments = mine["data"]["_entities"][0]["payments"]
    assert [(f["sourceStream"], f["sourceKey"], f["minutesSpent"], f["staffTimeAmount"])
            for f in payments["compensationFacts"]] == [
        ("performers", "CR-2026-0042", None, None),
        ("records", "17", 95, "29.13"),
        ("records", "23", 40, "12.27"),
    ]  # fmt: skip
    for who in (token("practice", ["B82002"]), token("lmc", ["kernow"])):
        theirs = await graphql(client, FACTS_QUERY, token=who)
        entity = theirs["data"]["_entities"][0]
        # Refused at the practice, at its payments or at the facts: never a fact.
        assert entity is None or (entity["payments"] or {}).get("compensationFacts") is None
        assert {e["extensions"]["code"] for e in theirs["errors"]} == {"FORBIDDEN"}
