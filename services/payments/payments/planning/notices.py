"""``deadline.approaching``: the practice's to-do list, told ahead of time on its stream.

One set-based pass for every practice at once (6,500 in England): for each kind whose due day
is near, one statement finds the practices that still have it to do, records the notice in
``deadline_notice`` (once per practice, kind, due day and lead) and returns only the ones not
told before, which are then written to the outbox in one statement. A daily run that was
missed is made up by the next (the lead whose day has come is published late, with the days
actually left); a second run publishes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any, Final

from sqlalchemy import and_, exists, func, literal, or_, select
from sqlalchemy.dialects.postgresql import insert as pg_insert

from payments import events
from payments.models import (
    DeadlineKind,
    DeadlineNotice,
    DeclarationState,
    PensionCertificate,
    PensionEstimate,
    PerformerMembership,
    PracticeDirectory,
    QofDeclaration,
)
from payments.planning.rules import ToDoKind
from payments.rates import RateBook, financial_year
from payments.schedule import repository as schedule_repository

if TYPE_CHECKING:
    from sqlalchemy import Select
    from sqlalchemy.ext.asyncio import AsyncSession

LEAD_DAYS: Final[dict[ToDoKind, tuple[int, ...]]] = {
    # Signing off in CQRS is the practice's own check of figures CQRS already holds: two weeks
    # to look at them, and a last reminder three days before.
    ToDoKind.QOF_DECLARATION: (14, 3),
    # An estimate needs each GP's expected pensionable pay (often from the accountant), and a
    # certificate the year's accounts: four weeks to gather them, a reminder a week before.
    ToDoKind.PENSION_ESTIMATE: (28, 7),
    ToDoKind.PENSION_CERTIFICATE: (28, 7),
}
"""Days before ``dueOn`` each notice is published. Not notified (they are on the to-do list
only): locum forms (monthly for every practice, though this service cannot tell which paid a
locum), an approved claim's payment date (nothing for the practice to do; a missed one is a
MISSING anomaly, published as ``anomaly.raised``) and a dispute's escalation day (its own
event, ``dispute.escalatable``)."""

ACTIONS: Final[dict[ToDoKind, str]] = {
    ToDoKind.QOF_DECLARATION: "Check the QOF achievement declaration in CQRS and sign it off, "
    "then record its state (recordQofDeclaration)",
    ToDoKind.PENSION_ESTIMATE: "Submit next year's estimate of pensionable pay to PCSE for each "
    "GP in post without one, and record it (recordPensionEstimate); toDo lists them",
    ToDoKind.PENSION_CERTIFICATE: "Send last year's Type 1 / Type 2 certificate to PCSE for each "
    "GP who worked here without one: a missing year blocks every later annual benefit "
    "statement; toDo lists them",
}


@dataclass(frozen=True)
class Due:
    kind: ToDoKind
    deadline: DeadlineKind
    year: int
    due_on: date
    lead_days: int


def lead_for(due_on: date, leads: tuple[int, ...], *, today: date) -> int | None:
    """The lead whose day has come (the shortest such), or None outside every lead's window
    (too early, or the day has passed: the to-do list shows it overdue)."""
    if today > due_on:
        return None
    come = [lead for lead in leads if due_on - timedelta(days=lead) <= today]
    return min(come) if come else None


def due_now(book: RateBook, *, today: date) -> list[Due]:
    """The kinds and years whose notice day has come, by the deadline rules in force."""
    year = financial_year(today)
    candidates = [
        (ToDoKind.QOF_DECLARATION, DeadlineKind.QOF_DECLARATION, year - 1),
        (ToDoKind.QOF_DECLARATION, DeadlineKind.QOF_DECLARATION, year),
        (ToDoKind.PENSION_ESTIMATE, DeadlineKind.PENSION_ESTIMATE, year + 1),
        (ToDoKind.PENSION_CERTIFICATE, DeadlineKind.PENSION_CERTIFICATE, year - 1),
    ]
    found = []
    for kind, deadline, fy in candidates:
        due_on = book.deadline(deadline, fy)
        if due_on is None:
            continue
        lead = lead_for(due_on, LEAD_DAYS[kind], today=today)
        if lead is not None:
            found.append(Due(kind, deadline, fy, due_on, lead))
    return found


def _needing(due: Due, *, today: date) -> Select[str, Any]:
    """Every practice that still has ``due`` to do, with how many GPs it concerns."""
    if due.kind is ToDoKind.QOF_DECLARATION:
        signed = exists().where(
            QofDeclaration.ods_code == PracticeDirectory.ods_code,
            QofDeclaration.financial_year == due.year,
            QofDeclaration.state != DeclarationState.AWAITING_PROVIDER_APPROVAL,
        )
        return select(PracticeDirectory.ods_code, literal(None).label("n")).where(
            PracticeDirectory.status == "active", ~signed
        )
    m = PerformerMembership
    if due.kind is ToDoKind.PENSION_ESTIMATE:
        in_post = and_(m.start_date <= today, or_(m.end_date.is_(None), m.end_date >= today))
        missing = ~exists().where(
            PensionEstimate.gmc_number == m.gmc_number,
            PensionEstimate.ods_code == m.ods_code,
            PensionEstimate.financial_year == due.year,
        )
    else:
        start, end = date(due.year, 4, 1), date(due.year + 1, 3, 31)
        in_post = and_(m.start_date <= end, or_(m.end_date.is_(None), m.end_date >= start))
        missing = ~exists().where(
            PensionCertificate.gmc_number == m.gmc_number,
            PensionCertificate.financial_year == due.year,
        )
    return (
        select(m.ods_code, func.count(m.gmc_number.distinct()).label("n"))
        .where(
            in_post,
            missing,
            m.ods_code.in_(
                select(PracticeDirectory.ods_code).where(PracticeDirectory.status == "active")
            ),
        )
        .group_by(m.ods_code)
    )


async def publish_deadlines(session: AsyncSession, *, today: date) -> int:
    """Publish every ``deadline.approaching`` due today (or missed since); the count."""
    rates, deadlines, timings, commissioners = await schedule_repository.rates(session)
    book = RateBook(rates, deadlines, timings, commissioners)
    items = []
    for due in due_now(book, today=today):
        needed = _needing(due, today=today).cte("needed")
        told = (
            pg_insert(DeadlineNotice)
            .from_select(
                ["ods_code", "kind", "due_on", "lead_days"],
                select(
                    needed.c.ods_code,
                    literal(due.kind.value),
                    literal(due.due_on),
                    literal(due.lead_days),
                ),
            )
            .on_conflict_do_nothing()
            .returning(DeadlineNotice.ods_code)
            .cte("told")
        )
        rows = await session.execute(
            select(needed.c.ods_code, needed.c.n)
            .join(told, told.c.ods_code == needed.c.ods_code)
            .order_by(needed.c.ods_code)
        )
        source = book.deadline_source(due.deadline, due.year)
        for code, count in rows.all():
            items.append(
                (
                    events.DEADLINE_APPROACHING,
                    code,
                    {
                        "odsCode": code,
                        "kind": due.kind.value,
                        "dueOn": due.due_on.isoformat(),
                        "daysLeft": (due.due_on - today).days,
                        "leadDays": due.lead_days,
                        "financialYear": due.year,
                        "gps": count,
                        "source": source,
                        "action": ACTIONS[due.kind],
                    },
                )
            )
    await events.publish_many(session, items)
    return len(items)
