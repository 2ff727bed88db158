"""A practice's registrations and deductions: the export format, and the rules that say what a
registration should have led to.

The format is a CSV exported from the practice's clinical system (UTF-8, comma-separated, a
header row with these names in any order; optional columns may be left out or empty):

======================  ========  =========================================================
column                  required  value
======================  ========  =========================================================
nhs_number              yes       the patient, ten digits (``943 476 5919`` or ``9434765919``)
event                   yes       ``registered`` or ``deducted``
effective_on            yes       the day it took effect, ``YYYY-MM-DD`` (not in the future)
reason                  yes       registered: ``new_registration`` (first registration with
                                  the NHS) or ``transfer`` (from another practice); deducted:
                                  ``transfer`` (registered elsewhere), ``fp69``, ``removal``
                                  (the practice's request, eight-day route),
                                  ``immediate_removal`` (violent patient, reported to the
                                  police), ``death``, ``emigration`` or ``other``
removal_requested_on    no        for a removal: the day the practice asked for it
fp69_flagged_on         no        for an FP69 deduction: the day the flag was set
date_of_birth           no        for an FP69 deduction: to know whether the patient was under
                                  18 (never deducted after an FP69); only that is kept
======================  ========  =========================================================

A file is all or nothing: every row is checked before anything is written, and a file with any
bad row is refused with a report naming each bad row and field. The same file again changes
nothing; a fact already known from an earlier export (same practice, patient, event and day)
is kept once.
"""

from __future__ import annotations

import csv
import functools
import hashlib
import io
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any, Final

from pcse_kit.errors import BadUserInput

from records.identifiers import nhs_number as valid_nhs_number
from records.models import JOINING, LEAVING, RegistrationEvent, RegistrationReason
from records.timers import add_months, add_working_days

REQUIRED: Final = ("nhs_number", "event", "effective_on", "reason")
OPTIONAL: Final = ("removal_requested_on", "fp69_flagged_on", "date_of_birth")
COLUMNS: Final = REQUIRED + OPTIONAL
MAX_REPORTED_ROWS: Final = 200
ADULT_AGE: Final = 18
_day = functools.lru_cache(maxsize=4096)(date.fromisoformat)
_EVENTS: Final = {e.value: e for e in RegistrationEvent}
_REASONS: Final = {r.value: r for r in RegistrationReason}
REMOVALS: Final = frozenset({RegistrationReason.REMOVAL, RegistrationReason.IMMEDIATE_REMOVAL})

FP69_NOTICE: Final[tuple[tuple[date, int], ...]] = (
    (date.min, 6),
    (date(2025, 10, 1), 3),
)
"""Months from an FP69 flag to the deduction, by the day the flag was set: six months, three
for flags set from 1 October 2025 (PCSE, "FP69 flags"; the README's rules table)."""


def fp69_notice_months(flagged_on: date) -> int:
    return next(months for since, months in reversed(FP69_NOTICE) if flagged_on >= since)


def fp69_deduction_due(flagged_on: date) -> date:
    """The first day an FP69 deduction may take effect."""
    return add_months(flagged_on, fp69_notice_months(flagged_on))


@dataclass(frozen=True, kw_only=True)
class Rules:
    """What registrations should have led to, and when its absence is a problem. Defaults are
    the published timings; where nothing is published, ours (settings, see the README)."""

    record_due_weeks: int = 6
    """A patient registered here this long with no record on its way: the label comes within
    four weeks of the deduction, the record within two weeks of its release."""
    transfer_evidence_days: int = 30
    """A transfer deduction is explained by the patient's registration at another practice, or
    the record moving out after it, this many days either side (ours: no published figure)."""
    transfer_grace_working_days: int = 20
    """How long a transfer deduction may wait for that evidence: the label's four weeks."""
    harm_review_days: int = 30
    """A harm review is due this many days after the patient joins the worklist (ours: NHS
    England set no deadline for the 2019 lists)."""

    def record_due_before(self, today: date) -> date:
        """Registrations on or before this day should have a record on its way by ``today``."""
        return today - timedelta(weeks=self.record_due_weeks)

    def transfer_grace_cutoff(self, today: date) -> date:
        """The latest deduction day whose grace for evidence of a transfer is over by ``today``."""
        day = today
        while add_working_days(day, self.transfer_grace_working_days) >= today:
            day -= timedelta(days=1)
        return day


@dataclass(frozen=True)
class ParsedRegistration:
    nhs_number: str
    event: RegistrationEvent
    effective_on: date
    reason: RegistrationReason
    removal_requested_on: date | None = None
    fp69_flagged_on: date | None = None
    under_18: bool | None = None

    def record(self, ods_code: str) -> tuple[Any, ...]:
        """The row as COPY writes it, in :data:`STAGED_COLUMNS` order."""
        return (
            ods_code,
            self.nhs_number,
            self.event.value,
            self.effective_on,
            self.reason.value,
            self.removal_requested_on,
            self.fp69_flagged_on,
            self.under_18,
        )


STAGED_COLUMNS: Final = (
    "ods_code",
    "nhs_number",
    "event",
    "effective_on",
    "reason",
    "removal_requested_on",
    "fp69_flagged_on",
    "under_18",
)


@dataclass(frozen=True)
class RowError:
    row: int
    field: str
    message: str


class FileRejected(BadUserInput):
    """A file with bad rows: nothing of it was loaded. The report lists every bad row."""

    def __init__(self, errors: list[RowError], *, total: int) -> None:
        first = errors[0]
        super().__init__(
            f"{total} problem(s) in the file; nothing was loaded. First: row {first.row}, "
            f"`{first.field}`: {first.message}",
            field="csv",
        )
        self.errors = errors
        self.total = total

    @property
    def extensions(self) -> dict[str, Any]:
        return {
            **super().extensions,
            "problems": self.total,
            "rows": [{"row": e.row, "field": e.field, "message": e.message} for e in self.errors],
        }


def age_on(born: date, day: date) -> int:
    return day.year - born.year - ((day.month, day.day) < (born.month, born.day))


def check(
    *,
    nhs_number: str,
    event: RegistrationEvent,
    effective_on: date,
    reason: RegistrationReason,
    removal_requested_on: date | None,
    fp69_flagged_on: date | None,
    date_of_birth: date | None,
    today: date,
) -> ParsedRegistration:
    """One registration fact, checked: BAD_USER_INPUT naming the field at the first problem."""
    if effective_on > today:
        raise BadUserInput("`effectiveOn` cannot be in the future.", field="effectiveOn")
    allowed = JOINING if event is RegistrationEvent.REGISTERED else LEAVING
    if reason not in allowed:
        names = ", ".join(sorted(r.value for r in allowed))
        raise BadUserInput(f"A patient {event.value} for one of: {names}.", field="reason")
    if removal_requested_on is not None:
        if reason not in REMOVALS:
            raise BadUserInput(
                "`removalRequestedOn` is only for a removal.", field="removalRequestedOn"
            )
        if removal_requested_on > today:
            raise BadUserInput(
                "`removalRequestedOn` cannot be in the future.", field="removalRequestedOn"
            )
    if (fp69_flagged_on is not None or date_of_birth is not None) and (
        reason is not RegistrationReason.FP69
    ):
        raise BadUserInput(
            "`fp69FlaggedOn` and `dateOfBirth` are only for an FP69 deduction.",
            field="fp69FlaggedOn" if fp69_flagged_on is not None else "dateOfBirth",
        )
    if fp69_flagged_on is not None and fp69_flagged_on > effective_on:
        raise BadUserInput("An FP69 flag cannot come after the deduction.", field="fp69FlaggedOn")
    if date_of_birth is not None and date_of_birth > effective_on:
        raise BadUserInput("`dateOfBirth` cannot be after the deduction.", field="dateOfBirth")
    return ParsedRegistration(
        nhs_number=nhs_number,
        event=event,
        effective_on=effective_on,
        reason=reason,
        removal_requested_on=removal_requested_on,
        fp69_flagged_on=fp69_flagged_on,
        under_18=None if date_of_birth is None else age_on(date_of_birth, effective_on) < ADULT_AGE,
    )


@dataclass
class ParsedFile:
    rows: list[ParsedRegistration] = field(default_factory=list)
    digest: str = ""


_CSV_FIELDS: Final = {
    "effectiveOn": "effective_on",
    "removalRequestedOn": "removal_requested_on",
    "fp69FlaggedOn": "fp69_flagged_on",
    "dateOfBirth": "date_of_birth",
    "nhsNumber": "nhs_number",
}


def parse(text: str, *, today: date) -> ParsedFile:
    """Every row checked; :class:`FileRejected` with the whole report if any is wrong."""
    errors: list[RowError] = []
    total = 0

    def fail(row: int, name: str, message: str) -> None:
        nonlocal total
        total += 1
        if len(errors) < MAX_REPORTED_ROWS:
            errors.append(RowError(row, name, message))

    reader = csv.DictReader(io.StringIO(text.removeprefix("\ufeff"), newline=""))
    header = [name.strip() for name in reader.fieldnames or []]
    reader.fieldnames = header
    for column in REQUIRED:
        if column not in header:
            fail(1, column, "required column missing from the header")
    for column in header:
        if column not in COLUMNS:
            fail(1, column, "not a column of the registrations format")
    if total:
        raise FileRejected(errors, total=total)
    parsed = ParsedFile(digest=hashlib.sha256(text.encode()).hexdigest())
    for row in reader:
        number = reader.line_num
        if None in row:
            fail(number, "row", "more cells than the header has columns")
            continue
        found = _row(row, number, fail, today=today)
        if found is not None:
            parsed.rows.append(found)
    if not parsed.rows and not total:
        fail(1, "csv", "the file has no rows")
    if total:
        raise FileRejected(errors, total=total)
    return parsed


def _row(
    row: dict[str, str | None], number: int, fail: Any, *, today: date
) -> ParsedRegistration | None:
    def cell(name: str) -> str:
        return (row.get(name) or "").strip()

    failures = 0

    def bad(name: str, message: str) -> None:
        nonlocal failures
        failures += 1
        fail(number, name, message)

    def day(name: str) -> date | None:
        if not cell(name):
            return None
        try:
            return _day(cell(name))
        except ValueError:
            bad(name, "not a date (YYYY-MM-DD)")
            return None

    try:
        patient = valid_nhs_number(cell("nhs_number"))
    except BadUserInput:
        # Never echo the value: it may be a real patient's.
        bad("nhs_number", "not an NHS number (ten digits with a valid check digit)")
        patient = None
    event = _EVENTS.get(cell("event"))
    if event is None:
        bad("event", "must be registered or deducted")
    reason = _REASONS.get(cell("reason"))
    if reason is None:
        bad("reason", f"unknown reason {cell('reason')[:40]!r}")
    effective_on = day("effective_on")
    if effective_on is None and not cell("effective_on"):
        bad("effective_on", "required")
    requested, flagged, born = (
        day("removal_requested_on"),
        day("fp69_flagged_on"),
        day("date_of_birth"),
    )
    if failures or patient is None or event is None or reason is None or effective_on is None:
        return None
    try:
        return check(
            nhs_number=patient,
            event=event,
            effective_on=effective_on,
            reason=reason,
            removal_requested_on=requested,
            fp69_flagged_on=flagged,
            date_of_birth=born,
            today=today,
        )
    except BadUserInput as error:
        name = _CSV_FIELDS.get(error.field or "", error.field or "row")
        fail(number, name, error.message)
        return None
