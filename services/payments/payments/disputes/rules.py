"""A dispute's age, its escalation to the LMC, and the late-payment notice a practice sends."""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from payments.rates import pounds_text

if TYPE_CHECKING:
    from collections.abc import Sequence
    from datetime import date

    from payments.models import Anomaly, Dispute, DisputeEvent, LineRow

ESCALATION_DAYS: Final = 40
"""An LMC may escalate an enquiry PCSE has left unresolved for more than 40 days."""


def age_days(dispute: Dispute, *, today: date) -> int:
    end = dispute.resolved_at.date() if dispute.resolved_at is not None else today
    return (end - dispute.opened_at.date()).days


def escalatable(dispute: Dispute, *, today: date) -> bool:
    return dispute.resolved_at is None and age_days(dispute, today=today) > ESCALATION_DAYS


def late_payment_notice(
    dispute: Dispute,
    *,
    line: LineRow | None,
    anomaly: Anomaly | None,
    events: Sequence[DisputeEvent],
    today: date,
) -> str:
    """A plain-text notice the practice can send to PCSE and NHS England, citing its evidence."""
    age = age_days(dispute, today=today)
    parts = [
        f"Reference: {dispute.reference}",
        f"Practice: {dispute.ods_code}",
        f"Date: {today.isoformat()}",
        "",
        "To: Primary Care Support England, and NHS England as commissioner",
        "",
        f"Subject: {dispute.subject}",
        "",
        f"We raised this query on {dispute.opened_at.date().isoformat()}, {age} days ago. "
        "It remains unresolved.",
    ]
    if anomaly is not None:
        parts += [
            "",
            f"The problem: {anomaly.summary}",
            f"Amount at stake: {pounds_text(anomaly.amount_at_stake_pence)}",
            f"First detected: {anomaly.first_detected_at.date().isoformat()}",
        ]
        facts = anomaly.evidence.get("facts", []) + anomaly.evidence.get("derivation", [])
        if facts:
            parts += ["", "Evidence:", *(f"  - {label}: {value}" for label, value in facts)]
    if line is not None:
        parts += [
            "",
            f"The statement line: {line.paycode} {line.description}, "
            f"{pounds_text(line.amount_pence)}, covering {line.covers_from} to {line.covers_to}, "
            f"{line.status.value}" + (f" on {line.paid_on}" if line.paid_on else "") + ".",
        ]
    if events:
        parts += ["", "Timeline:"]
        for event in events:
            parts.append(f"  {event.occurred_on.isoformat()}  {event.kind.value}: {event.note}")
            parts += [f"      {label}: {value}" for label, value in event.evidence]
    parts += [
        "",
        "We ask that the amount due is paid in the next payment run and that you confirm the "
        "date in writing. "
        + (
            f"As the query has been open for more than {ESCALATION_DAYS} days, we are also "
            "asking our LMC to escalate it."
            if age > ESCALATION_DAYS
            else f"If it is not resolved within {ESCALATION_DAYS} days of being raised, we will "
            "ask our LMC to escalate it."
        ),
        "",
        "We reserve the right to claim direct and indirect losses, with this evidence, from "
        "NHS England, and to refer the matter to NHS Resolution (Primary Care Appeals).",
    ]
    return "\n".join(parts)
