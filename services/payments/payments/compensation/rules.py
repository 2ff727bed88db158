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

from payments.models import AnomalyKind, CompensationState, Direction
from payments.rates import pounds_text, round_pence

if TYPE_CHECKING:
    from payments.models import Anomaly

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
