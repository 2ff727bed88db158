"""The losses late or missing money caused a practice, worked out from the anomalies that prove
it, and the states a compensation claim moves through.

Interest is simple interest at the rate the practice's money cost it (its overdraft rate, with
its evidence), for each day from the due date to the day it was paid (a LATE anomaly) or to
the claim's date (a MISSING one). No late-payment interest rule for primary medical services
contracts was found (DOMAIN.md §7): the claim is for a loss, with its evidence, to the
commissioner (BMA: direct and indirect losses, with evidence, go to NHS England).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING, Final

from payments.models import AnomalyKind, CompensationState, Direction, FactKind, LossKind
from payments.rates import pounds_text, round_pence

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from payments.models import Anomaly, CompensationFact

DAYS_A_YEAR: Final = 365
_ISO = re.compile(r"\d{4}-\d{2}-\d{2}")

NEXT_STATES: Final[dict[CompensationState, frozenset[CompensationState]]] = {
    CompensationState.DRAFT: frozenset({CompensationState.SUBMITTED, CompensationState.WITHDRAWN}),
    CompensationState.SUBMITTED: frozenset(
        {CompensationState.OFFERED, CompensationState.WITHDRAWN}
    ),
    # A better offer may follow one, or a rejected one.
    CompensationState.OFFERED: frozenset(
        {CompensationState.OFFERED, CompensationState.ACCEPTED, CompensationState.REJECTED}
    ),
    CompensationState.REJECTED: frozenset({CompensationState.OFFERED, CompensationState.WITHDRAWN}),
    CompensationState.ACCEPTED: frozenset(),
    CompensationState.WITHDRAWN: frozenset(),
}


def interest_pence(principal_pence: int, *, annual_rate: Decimal, days: int) -> int:
    """Simple interest: principal x rate% x days / 365, half up to the penny."""
    return round_pence(Decimal(principal_pence) * annual_rate / 100 * days / DAYS_A_YEAR)


@dataclass(frozen=True)
class Loss:
    anomaly_id: int
    description: str
    principal_pence: int
    days: int
    amount_pence: int
    source: str


def _fact(anomaly: Anomaly, label: str) -> str | None:
    for pair in anomaly.evidence.get("facts", []):
        if pair[0] == label:
            return str(pair[1])
    return None


def interest_losses(anomalies: list[Anomaly], *, annual_rate: Decimal, as_of: date) -> list[Loss]:
    """Interest on each sum owed to the practice that came late (to the day it came) or has not
    come (to ``as_of``)."""
    losses = []
    for anomaly in anomalies:
        if (
            anomaly.direction is not Direction.OWED_TO_PRACTICE
            or anomaly.amount_at_stake_pence <= 0
        ):
            continue
        if anomaly.kind is AnomalyKind.LATE:
            due_text, days_text = _fact(anomaly, "Due"), _fact(anomaly, "Days late")
            if due_text is None or days_text is None:
                continue
            days = int(days_text)
            how = f"paid {days} days after it was due on {due_text}"
        elif anomaly.kind is AnomalyKind.MISSING:
            expected = _fact(anomaly, "Expected") or ""
            found = _ISO.findall(expected)
            if not found:
                continue
            due = date.fromisoformat(found[-1])
            days = (as_of - due).days
            how = f"due on {due.isoformat()}, unpaid at {as_of.isoformat()}: {days} days"
        else:
            continue
        if days <= 0:
            continue
        amount = interest_pence(anomaly.amount_at_stake_pence, annual_rate=annual_rate, days=days)
        losses.append(
            Loss(
                anomaly_id=anomaly.id,
                description=f"Interest on {pounds_text(anomaly.amount_at_stake_pence)} {how}, at "
                f"{annual_rate.normalize():f}% a year",
                principal_pence=anomaly.amount_at_stake_pence,
                days=days,
                amount_pence=amount,
                source=f"anomaly {anomaly.id} ({anomaly.kind.name}): {anomaly.summary}"[:400],
            )
        )
    return losses


MINUTES_AN_HOUR: Final = 60
MAX_SESSIONS_A_WEEK: Final = 10
"""A full-time GP works nine or ten sessions (half days) a week: more is a typing slip."""
RECORDS_SOURCE: Final = "records"
PERFORMERS_SOURCE: Final = "performers"


def staff_time_pence(minutes: int, *, hourly_pence: int) -> int:
    """Minutes at the practice's hourly cost: minutes x hourly / 60, half up to the penny, once
    per review (95 minutes at £18.40 = 1,748 / 60 = £29.13)."""
    return round_pence(Decimal(minutes) * hourly_pence / MINUTES_AN_HOUR)


def sessions_lost_pence(weeks: int, *, sessions_a_week: int, session_pence: int) -> int:
    """Whole weeks beyond the 16 x the sessions a week the GP was to work x the practice's value
    of a session (exact: no rounding)."""
    return weeks * sessions_a_week * session_pence


@dataclass(frozen=True)
class FactLoss:
    """One loss from another service's fact, priced at the practice's own figure (None: the
    practice has recorded no figure in force on the fact's day)."""

    fact_id: int
    kind: LossKind
    description: str
    quantity: int
    """Minutes (staff time) or sessions (lost)."""
    amount_pence: int | None
    source: str


def fact_source(fact: CompensationFact) -> str:
    """Where the fact came from, as a claim cites it: the stream, the event type and the key."""
    name = "review" if fact.kind is FactKind.HARM_REVIEW else "change request"
    return f"{fact.stream} stream, {fact.event_type}, {name} {fact.source_key}"[:400]


def fact_losses(
    facts: Sequence[CompensationFact],
    *,
    hourly_pence: Callable[[date], int | None],
    session_pence: Callable[[date], int | None],
    sessions_a_week: int | None,
) -> list[FactLoss]:
    """Each fact priced at the practice's figure in force on its day: a harm review's staff
    time, and for an inclusion delay the sessions lost (only when the practice says how many
    sessions a week the GP was to work)."""
    losses = []
    for fact in facts:
        if fact.kind is FactKind.HARM_REVIEW:
            minutes = fact.minutes_spent or 0
            if minutes <= 0:
                continue
            rate = hourly_pence(fact.on)
            state = "completed" if fact.completed else "in progress"
            losses.append(
                FactLoss(
                    fact_id=fact.id,
                    kind=LossKind.STAFF_TIME,
                    description=(
                        f"Staff time on harm review {fact.source_key} ({state}): {minutes} "
                        "minutes"
                        + ("" if rate is None else f" at {pounds_text(rate)} an hour")
                        + " (the practice's own costing)"
                    )[:400],
                    quantity=minutes,
                    amount_pence=None
                    if rate is None
                    else staff_time_pence(minutes, hourly_pence=rate),
                    source=fact_source(fact),
                )
            )
        elif fact.kind is FactKind.INCLUSION_DELAY:
            weeks = fact.weeks_beyond or 0
            if weeks <= 0 or sessions_a_week is None:
                continue
            value = session_pence(fact.on)
            sessions = weeks * sessions_a_week
            losses.append(
                FactLoss(
                    fact_id=fact.id,
                    kind=LossKind.SESSIONS_LOST,
                    description=(
                        f"GP sessions lost while application {fact.source_key} waited beyond 16 "
                        f"weeks (passed {fact.on.isoformat()}): {weeks} whole weeks x "
                        f"{sessions_a_week} sessions"
                        + ("" if value is None else f" at {pounds_text(value)} a session")
                        + " (the practice's own costing; NHS England pays goodwill compensation "
                        "at its discretion: may apply, never due)"
                    )[:400],
                    quantity=sessions,
                    amount_pence=None
                    if value is None
                    else sessions_lost_pence(
                        weeks, sessions_a_week=sessions_a_week, session_pence=value
                    ),
                    source=fact_source(fact),
                )
            )
    return losses
