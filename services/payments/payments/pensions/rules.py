"""A performer's pension position: the rules PCSE Online applies to certificates and forms.

Pure functions over rows. Deadlines that change by year come from the rate book; the two locum
rules are PCSE Online's validation and are the same every year.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from payments.models import DeadlineKind
from payments.rates import add_months, financial_year

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence
    from datetime import date

    from payments.models import CertificateType, LocumPensionForm, PensionCertificate
    from payments.rates import RateBook

LOCUM_PENSION_WINDOW_DAYS: Final = 70
"""The 10-week rule: PCSE Online refuses to pension locum work older than this."""
LOCUM_WARNING_DAYS: Final = 60
"""Day 60: time to submit before the 10-week rule bites."""
LOCUM_FORM_DUE_DAY: Final = 7
"""Forms A and B, and the payment, are due by the 7th of the following month."""
_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
_BACS = re.compile(rf"(?P<sd>[0-9]{{8}})LOC(?P<month>{'|'.join(_MONTHS)})(?P<year>[0-9]{{4}})")


class CertificateStatus(enum.StrEnum):
    PROCESSED = "processed"
    SUBMITTED = "submitted"
    """Received by PCSE, not yet processed."""
    OVERDUE = "overdue"
    """Not received and past its deadline: this year, and every later one, is stuck."""
    NOT_YET_DUE = "not_yet_due"


@dataclass(frozen=True)
class CertificateYear:
    year: int
    due_on: date | None
    status: CertificateStatus
    types: tuple[CertificateType, ...]
    submitted_on: date | None
    processed_on: date | None
    blocked_by: int | None
    """The first earlier year whose missing certificate holds this one's records up."""


def certificate_years(
    years: Iterable[int],
    certificates: Sequence[PensionCertificate],
    book: RateBook,
    *,
    today: date,
) -> list[CertificateYear]:
    """Each year's Type 1 / Type 2 position; records update in year order, so the first
    overdue year blocks every later one."""
    found = []
    first_missing: int | None = None
    for year in sorted(set(years)):
        received = [c for c in certificates if c.financial_year == year]
        due = book.deadline(DeadlineKind.PENSION_CERTIFICATE, year)
        processed = [c.processed_on for c in received]
        if received and all(p is not None for p in processed):
            status = CertificateStatus.PROCESSED
        elif received:
            status = CertificateStatus.SUBMITTED
        elif due is not None and due < today:
            status = CertificateStatus.OVERDUE
        else:
            status = CertificateStatus.NOT_YET_DUE
        found.append(
            CertificateYear(
                year=year,
                due_on=due,
                status=status,
                types=tuple(sorted({c.certificate_type for c in received})),
                submitted_on=min((c.submitted_on for c in received), default=None),
                processed_on=max((p for p in processed if p is not None), default=None)
                if status is CertificateStatus.PROCESSED
                else None,
                blocked_by=first_missing,
            )
        )
        if status is CertificateStatus.OVERDUE and first_missing is None:
            first_missing = year
    return found


def completed_years(years: Iterable[int], *, today: date) -> list[int]:
    """From the earliest year on record to the last whole year before today's."""
    known = list(years)
    if not known:
        return []
    return list(range(min(known), financial_year(today)))


@dataclass(frozen=True)
class LocumCheck:
    due_on: date
    days_after_work: int
    pensionable: bool
    problems: tuple[str, ...]


def check_locum_form(form: LocumPensionForm) -> LocumCheck:
    """What PCSE Online makes of a Form A or B: its deadline, the 10-week rule, the BACS
    reference (``<SD number>LOC<MMM><YYYY>``).

    A Form B is for a calendar month of income received: the month the practice paid the
    locum, not the month worked. Its deadline (the 7th of the following month) and the month
    in its BACS reference follow that month; without it recorded, the month the work ended
    stands in.
    """
    month = form.income_month if form.income_month is not None else form.work_to
    due = add_months(month, 1).replace(day=LOCUM_FORM_DUE_DAY)
    days = (form.submitted_on - form.work_from).days
    problems = []
    if form.submitted_on > due:
        problems.append(f"submitted on {form.submitted_on}, after the deadline of {due}")
    pensionable = days <= LOCUM_PENSION_WINDOW_DAYS
    if not pensionable:
        problems.append(
            f"the work began {days} days before submission: over 10 weeks, so it cannot be "
            "pensioned"
        )
    elif days >= LOCUM_WARNING_DAYS:
        problems.append(f"day {days} of 70: submit now or the 10-week rule applies")
    match = _BACS.fullmatch(form.bacs_reference)
    named = f"{_MONTHS[month.month - 1]}{month.year}"
    if match is None:
        problems.append("the BACS reference must read <8-digit SD number>LOC<MMM><YYYY>")
    elif f"{match['month']}{match['year']}" != named:
        problems.append(f"the BACS reference names {match['month']} {match['year']}, not {named}")
    return LocumCheck(
        due_on=due, days_after_work=days, pensionable=pensionable, problems=tuple(problems)
    )
