"""Facts for compensation claims, from the other services' streams (never their tables).

- records: ``harm_review.recorded`` carries the whole review, so the latest event for a
  ``reviewId`` is its state: ``minutesSpent`` is the staff time on it in all, not an increment.
- performers: ``change_request.goodwill_compensation_may_apply``: an application for inclusion
  approved more than 16 weeks after it was complete (NHS England pays goodwill compensation at
  its discretion where the delay was no fault of the GP: "may", never "due").

Each event is applied exactly once through the inbox, like the directory consumer's; a
replay, or an older event arriving after a newer one, changes nothing (the newer
``occurredAt`` wins). A payload that cannot be read is dead-lettered and the stream goes on.
Other event types are skipped.
"""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Any, Final

from pcse_kit.events import Consumer, MalformedEvent
from pcse_kit.identifiers import is_practice_code
from sqlalchemy.dialects.postgresql import insert as pg_insert

from payments.models import CompensationFact, DeadLetter, FactKind, Inbox

if TYPE_CHECKING:
    from pcse_kit.events import Event
    from pcse_kit.service import EventWiring
    from sqlalchemy.ext.asyncio import AsyncSession

CONSUMER: Final = "payments-compensation"
RECORDS: Final = "records"
PERFORMERS: Final = "performers"
HARM_REVIEW_RECORDED: Final = "harm_review.recorded"
GOODWILL: Final = "change_request.goodwill_compensation_may_apply"
# What is kept of each payload: facts a claim cites, never a patient (no payload has one).
HARM_REVIEW_FACTS: Final = (
    "reviewId", "source", "dueOn", "harmGrade", "completed", "minutesSpent", "reviewedOn",
)  # fmt: skip
GOODWILL_FACTS: Final = (
    "reference", "kind", "submittedOn", "completeOn", "decidedOn", "outcome",
    "sixteenWeeksPassedOn", "daysBeyondSixteenWeeks", "weeksBeyondSixteen",
)  # fmt: skip


def consumer(wiring: EventWiring) -> Consumer:
    return Consumer(
        wiring.sessionmaker,
        wiring.bus,
        name=CONSUMER,
        streams=[RECORDS, PERFORMERS],
        handler=apply,
        inbox=Inbox,
        dead_letters=DeadLetter,
    )


def _practice(payload: dict[str, Any]) -> str:
    code = str(payload["odsCode"])
    if not is_practice_code(code):
        raise ValueError(f"not a practice code: {code!r}")
    return code


def _count(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"`{name}` is not a count: {value!r}")
    return value


async def apply(session: AsyncSession, event: Event) -> None:
    payload = event.payload
    try:
        if event.stream == RECORDS and event.type == HARM_REVIEW_RECORDED:
            values = _harm_review(event, payload)
        elif event.stream == PERFORMERS and event.type == GOODWILL:
            values = _inclusion_delay(event, payload)
        else:
            return
    except (KeyError, TypeError, ValueError) as error:
        raise MalformedEvent(f"{event.type} payload: {error!r}") from error
    await _keep(session, values)


def _harm_review(event: Event, payload: dict[str, Any]) -> dict[str, Any]:
    review_id = payload["reviewId"]
    if isinstance(review_id, bool) or not isinstance(review_id, int | str):
        raise TypeError(f"not a review id: {review_id!r}")
    reviewed = payload.get("reviewedOn")
    return {
        "kind": FactKind.HARM_REVIEW,
        "ods_code": _practice(payload),
        "stream": event.stream,
        "event_type": event.type,
        "source_key": str(review_id)[:60],
        "event_id": str(event.event_id),
        "occurred_at": event.occurred_at,
        # Priced on the day the review was done; while it is not, the day of the event.
        "on": date.fromisoformat(str(reviewed)) if reviewed else event.occurred_at.date(),
        "minutes_spent": _count(payload["minutesSpent"], "minutesSpent"),
        "completed": bool(payload.get("completed")),
        "weeks_beyond": None,
        "days_beyond": None,
        "facts": {k: payload.get(k) for k in HARM_REVIEW_FACTS},
    }


def _inclusion_delay(event: Event, payload: dict[str, Any]) -> dict[str, Any]:
    return {
        "kind": FactKind.INCLUSION_DELAY,
        "ods_code": _practice(payload),
        "stream": event.stream,
        "event_type": event.type,
        "source_key": str(payload["reference"])[:60],
        "event_id": str(event.event_id),
        "occurred_at": event.occurred_at,
        "on": date.fromisoformat(str(payload["sixteenWeeksPassedOn"])),
        "minutes_spent": None,
        "completed": None,
        "weeks_beyond": _count(payload["weeksBeyondSixteen"], "weeksBeyondSixteen"),
        "days_beyond": _count(payload["daysBeyondSixteenWeeks"], "daysBeyondSixteenWeeks"),
        # The GP's number stays with the performers service: the claim names the request.
        "facts": {k: payload.get(k) for k in GOODWILL_FACTS},
    }


async def _keep(session: AsyncSession, values: dict[str, Any]) -> None:
    """The latest event wins: one older than the fact held changes nothing."""
    insert = pg_insert(CompensationFact).values(values)
    table = CompensationFact.__table__
    await session.execute(
        insert.on_conflict_do_update(
            constraint="compensation_fact_once",
            set_={k: insert.excluded[k] for k in values if k not in {"kind", "source_key"}},
            where=table.c.occurred_at <= insert.excluded.occurred_at,
        )
    )
