"""Importing a payment run: a line-level CSV, validated whole, then loaded with COPY.

The format (UTF-8, comma-separated, a header row with these names in any order; optional
columns may be left out or empty):

=================  ========  ===============================================================
column             required  value
=================  ========  ===============================================================
ods_code           yes       the practice, ``A81001``; it must be in the practice directory
period             yes       the statement's month, ``2026-06`` or ``2026-06-01``
paycode            yes       a PCSE paycode known to the service (``GSUM``, ``QOFACH``...)
component          yes       the paycode's component (``global_sum``, ``qof_achievement``...)
amount             yes       pounds with at most two decimals, signed as it moved the bank
                             balance: a payment positive, a deduction negative; an adjustment
                             under a payment heading may be negative, a refund under a
                             deduction heading positive; the paycode says which signs it
                             carries (``paycodes``)
description        no        the line's text; the paycode's description if empty
covers_from        no        first day the line pays for; the period's first day if empty
covers_to          no        last day it pays for; the period's last day if empty
paymaster          no        ``nhs_england`` (default), ``icb`` or ``local_authority``
source_system      no        ``PCSE Online`` (default), ``NHAIS``, ``ISFE``, ``CQRS``...
authoriser         no        who authorised the payment (a commissioner, a person)
status             no        ``authorised``, ``entered``, ``paid`` (default), ``failed``,
                             ``reversed``; ``reversed`` reports the reversal of an earlier
                             payment of ``amount``, and cancels it
authorised_on      no        ISO dates of each step of the payment chain; the step the
entered_on         no        status names must be dated (``paid_on`` for ``paid``...)
paid_on            no
failed_on          no
reversed_on        no
gmc_number         no        the performer a pension line is for (seven digits)
remittance_ref     no        the remittance (bank credit) the line was paid in
=================  ========  ===============================================================

A run is all or nothing: every row is checked before anything is written, and a file with any
bad row is refused with a report naming each bad row and field. A run is identified by its id:
importing the same id again changes nothing and returns the first import's result.
"""

from __future__ import annotations

import csv
import functools
import hashlib
import io
import re
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from operator import itemgetter
from typing import TYPE_CHECKING, Any, Final, NamedTuple

from pcse_kit.errors import BadUserInput
from pcse_kit.identifiers import is_gmc_number, is_practice_code

from payments.bulk import collector_paused
from payments.models import ChainStatus, Component, Paycode, PaycodeSign, Paymaster
from payments.rates import month_end

if TYPE_CHECKING:
    from collections.abc import Mapping

REQUIRED: Final = ("ods_code", "period", "paycode", "component", "amount")
OPTIONAL: Final = (
    "description",
    "covers_from",
    "covers_to",
    "paymaster",
    "source_system",
    "authoriser",
    "status",
    "authorised_on",
    "entered_on",
    "paid_on",
    "failed_on",
    "reversed_on",
    "gmc_number",
    "remittance_ref",
)
COLUMNS: Final = REQUIRED + OPTIONAL
DEFAULT_SOURCE = "PCSE Online"
MAX_REPORTED_ROWS: Final = 200
"""A file wrong on every row still gets a readable report: the first 200, and the count."""
STATUS_DATE = {
    ChainStatus.AUTHORISED: "authorised_on",
    ChainStatus.ENTERED: "entered_on",
    ChainStatus.PAID: "paid_on",
    ChainStatus.FAILED: "failed_on",
    ChainStatus.REVERSED: "reversed_on",
}
# A run repeats the same few dates and codes on every row: parse each spelling once.
_day = functools.lru_cache(maxsize=4096)(date.fromisoformat)
_COMPONENTS: Final = {c.value: c for c in Component}
_PAYMASTERS: Final = {p.value: p for p in Paymaster}
_STATUSES: Final = {s.value: s for s in ChainStatus}

LINE_COLUMNS: Final = (
    "statement_id",
    "component",
    "paycode",
    "description",
    "amount_pence",
    "covers_from",
    "covers_to",
    "paymaster",
    "source_system",
    "authoriser",
    "status",
    "authorised_on",
    "entered_on",
    "paid_on",
    "failed_on",
    "reversed_on",
    "gmc_number",
    "run_id",
    "remittance_ref",
)
"""The statement_line columns a run fills, in the order of :attr:`ParsedLine.record`."""


@dataclass(frozen=True)
class RowError:
    row: int
    """The file's line number (the header is line 1)."""
    field: str
    message: str


class RunRejected(BadUserInput):
    """A run with bad rows: nothing of it was imported. The report lists every bad row."""

    def __init__(self, errors: list[RowError], *, total: int) -> None:
        first = errors[0]
        super().__init__(
            f"{total} problem(s) in the run; nothing was imported. First: row {first.row}, "
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


class ParsedLine(NamedTuple):
    """One validated line. A named tuple: a run makes hundreds of thousands, and a tuple is
    made several times faster than a frozen dataclass."""

    ods_code: str
    period: date
    component: Component
    paycode: str
    description: str
    amount_pence: int
    covers_from: date
    covers_to: date
    paymaster: Paymaster
    source_system: str
    authoriser: str | None
    status: ChainStatus
    dates: tuple[date | None, date | None, date | None, date | None, date | None]
    gmc_number: str | None
    remittance_ref: str | None = None

    def record(self, statement_id: int, run_id: str) -> tuple[Any, ...]:
        # The enums go in as they are: a StrEnum member is the str of its value, which is
        # what COPY writes, while three ``.value`` property lookups were most of this
        # method's time, once per line.
        return (
            statement_id,
            self.component,
            self.paycode,
            self.description,
            self.amount_pence,
            self.covers_from,
            self.covers_to,
            self.paymaster,
            self.source_system,
            self.authoriser,
            self.status,
            *self.dates,
            self.gmc_number,
            run_id,
            self.remittance_ref,
        )


@dataclass
class ParsedRun:
    lines: list[ParsedLine] = field(default_factory=list)
    digest: str = ""
    """SHA-256 of the file: a run id replayed with different content is refused."""

    @property
    def statements(self) -> dict[tuple[str, date], tuple[date, str]]:
        """(practice, period) to the payment date and source system a new statement gets."""
        found: dict[tuple[str, date], tuple[date, str]] = {}
        for line in self.lines:
            paid = line.dates[2] or month_end(line.period)
            key = (line.ods_code, line.period)
            if key not in found or paid < found[key][0]:
                found[key] = (paid, line.source_system)
        return found

    @property
    def total_pence(self) -> int:
        return sum(line.amount_pence for line in self.lines)


def amount_pence(value: str, *, field: str = "amount") -> int:
    """Exact pence from a pounds string with at most two decimals; never through a float."""
    try:
        amount = Decimal(value.strip().replace(",", "").removeprefix("£"))
    except InvalidOperation:
        raise BadUserInput(f"`{field}` must be an amount in pounds.", field=field) from None
    if not amount.is_finite():
        raise BadUserInput(f"`{field}` must be an amount in pounds.", field=field)
    exponent = amount.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -2:  # noqa: PLR2004 - pence
        raise BadUserInput(f"`{field}` has more than two decimal places.", field=field)
    return int(amount * 100)


def pounds_pence(value: Decimal, *, field: str) -> int:
    """The same check for an amount that arrives as a GraphQL Decimal."""
    return amount_pence(str(value), field=field)


def _month(value: str) -> date:
    text = value.strip()
    if len(text) == 7:  # noqa: PLR2004 - YYYY-MM
        text += "-01"
    parsed = _day(text)
    if parsed.day != 1:
        raise ValueError("not the first day of a month")
    return parsed


SIGN_RULE: Final = {
    PaycodeSign.CREDIT: (1, "carries only payments (zero or more)"),
    PaycodeSign.DEBIT: (
        -1,
        "carries only deductions (zero or less); a correction is a reversal of the line",
    ),
}
"""The sign a paycode's amounts must have (or be zero), and what to say when one has not."""


def practice_codes(text: str) -> list[str]:
    """The practices a run's rows name, read before anything else is checked."""
    reader = csv.DictReader(io.StringIO(text, newline=""))
    return sorted({(row.get("ods_code") or "").strip() for row in reader} - {""})


def parse(
    text: str,
    *,
    paycodes: Mapping[str, Paycode],
    known_practices: set[str],
    quick: bool = True,
) -> ParsedRun:
    """Every row checked; :class:`RunRejected` with the whole report if any is wrong (see
    :func:`_parse`). The collector is paused: every parsed line lives until the run is written."""
    with collector_paused():
        return _parse(text, paycodes=paycodes, known_practices=known_practices, quick=quick)


def _parse(  # noqa: PLR0912, PLR0915 - the row loop is one function, its names kept local
    text: str,
    *,
    paycodes: Mapping[str, Paycode],
    known_practices: set[str],
    quick: bool = True,
) -> ParsedRun:
    """Every row checked; :class:`RunRejected` with the whole report if any is wrong.

    ``quick=False`` sends every row through the full check (the benchmark's comparison).

    A run repeats a few thousand practices, a handful of months and dates and a few dozen
    paycodes over hundreds of thousands of rows, so each distinct cell is checked once
    (:class:`_Checks`) and a row costs little more than the csv module's reading of it.
    """
    errors: list[RowError] = []
    total = 0

    def fail(row: int, field: str, message: str) -> None:
        nonlocal total
        total += 1
        if len(errors) < MAX_REPORTED_ROWS:
            errors.append(RowError(row, field, message))

    reader = csv.reader(io.StringIO(text, newline=""))
    header = next(reader, [])
    missing = [c for c in REQUIRED if c not in header]
    unknown = [c for c in header if c not in COLUMNS]
    for column in missing:
        fail(1, column, "required column missing from the header")
    for column in unknown:
        fail(1, column, "not a column of the payment run format")
    if missing or unknown:
        raise RunRejected(errors, total=total)

    width = len(header)
    # Where each column is in a row (as csv.DictReader, the last of a repeated name wins);
    # a column the header lacks reads as the empty cell at the end of the padded row.
    where = {name: index for index, name in enumerate(header)}
    at = [where.get(name, width) for name in COLUMNS]
    checks = _Checks(paycodes=paycodes, known_practices=known_practices)
    run = ParsedRun(digest=hashlib.sha256(text.encode()).hexdigest())
    lines = run.lines
    append = lines.append
    line_of = checks.line
    # The fast route: a full-width row whose cells other than the practice, the amount and
    # the GMC number are a combination already found good (a run has few), and whose three
    # own cells pass. Any other row takes the full check, which reports every problem.
    ods_at, amount_at, gmc_at = at[0], at[4], at[17]
    # The rest of a row as one tuple, picked out in C (at least the period, paycode and
    # component are there: required columns).
    rest = itemgetter(*[i for n, i in enumerate(at) if n not in {0, 4, 17} and i < width])
    templates = checks.templates
    practices = checks.practices
    amount_match = _AMOUNT.fullmatch
    gmc_match = _GMC_CELL.fullmatch
    new_line = _new_line
    padded = quick and ods_at < width and amount_at < width
    for row in reader:
        if padded and len(row) == width:
            template = templates.get(rest(row))
            if template is not None:
                ods_code = row[ods_at].strip()
                matched = amount_match(row[amount_at].strip())
                gmc_number = row[gmc_at].strip() if gmc_at < width else ""
                if (
                    matched is not None
                    and practices.get(ods_code, _UNSEEN) is None
                    and (not gmc_number or gmc_match(gmc_number) is not None)
                ):
                    sign, whole, pence = matched.groups()
                    # One int() of the pounds and the pence (padded to two) run together.
                    amount = int(whole + (pence or "").ljust(2, "0"))
                    if sign:
                        amount = -amount
                    (
                        allowed, period, component, paycode, description, covers_from,
                        covers_to, paymaster, source_system, authoriser, status, dates,
                        remittance,
                    ) = template  # fmt: skip
                    if amount * allowed >= 0:
                        append(
                            new_line(
                                ParsedLine,
                                (
                                    ods_code, period, component, paycode, description, amount,
                                    covers_from, covers_to, paymaster, source_system,
                                    authoriser, status, dates, gmc_number or None, remittance,
                                ),
                            )
                        )  # fmt: skip
                        continue
        if not row:  # a blank line, which csv.DictReader skips too
            continue
        number = reader.line_num
        if len(row) > width:  # more cells than the header has names
            fail(number, "row", "more cells than the header has columns")
            continue
        cells = [*row, *[""] * (width + 1 - len(row))]
        line = line_of([cells[i].strip() for i in at], number, fail)
        if line is not None:
            append(line)
            if len(row) == width:
                # Every check passed: the rest of this row is a combination found good.
                checks.remember(rest(row), line)
    if not run.lines and not total:
        fail(1, "csv", "the run has no lines")
    if total:
        raise RunRejected(errors, total=total)
    return run


_AMOUNT = re.compile(r"(-?)(\d{1,15})(?:\.(\d{1,2}))?")
"""The spelling nearly every amount has; anything else takes the general route."""
_NOT_A_DATE = "not a date (YYYY-MM-DD)"
_GMC_CELL = re.compile(r"[0-9]{7}")
"""As :func:`pcse_kit.identifiers.is_gmc_number`; a cell it refuses takes the full check."""
_UNSEEN: Final = ""
_new_line = tuple.__new__
"""A ParsedLine from a tuple of its fields, without the keyword handling of its __new__."""


_Template = tuple[Any, ...]
"""What a good row's cells other than the practice, amount and GMC number made: the sign its
paycode allows (1 or -1 when only that sign, or zero; 0 when either), then the fields of its
line other than those three, in the line's order. A plain tuple: the row loop unpacks it."""


class _Checks:
    """The checks of one run's rows, each distinct cell's verdict remembered.

    Every message, and the order a row's problems are reported in, is the same whichever
    cell was seen first: a remembered verdict is the verdict.
    """

    def __init__(self, *, paycodes: Mapping[str, Paycode], known_practices: set[str]) -> None:
        self.paycodes = paycodes
        self.known_practices = known_practices
        self.practices: dict[str, str | None] = {}
        self.months: dict[str, date | None] = {}
        self.days: dict[str, date | None] = {}
        self.codes: dict[
            tuple[str, str], tuple[Paycode | None, Component | None, list[tuple[str, str]]]
        ] = {}
        self.month_ends: dict[date, date] = {}
        self.templates: dict[Any, _Template] = {}

    def remember(self, rest: Any, line: ParsedLine) -> None:
        """A row made ``line``: its other cells, ``rest``, make the same for any good practice,
        amount (of the sign its paycode allows) and GMC number."""
        known = self.paycodes[line.paycode]
        rule = SIGN_RULE.get(known.sign)
        self.templates[rest] = (
            0 if rule is None else rule[0], line.period, line.component, line.paycode,
            line.description, line.covers_from, line.covers_to, line.paymaster,
            line.source_system, line.authoriser, line.status, line.dates, line.remittance_ref,
        )  # fmt: skip

    def practice(self, code: str) -> str | None:
        """What is wrong with an ODS code, or None."""
        if code not in self.practices:
            message = None
            if not is_practice_code(code):
                message = "not an ODS practice code (a capital letter and five digits)"
            elif code not in self.known_practices:
                message = "no such practice in the practice directory"
            self.practices[code] = message
        return self.practices[code]

    def month(self, text: str) -> date | None:
        if text not in self.months:
            try:
                self.months[text] = _month(text)
            except ValueError:
                self.months[text] = None
        return self.months[text]

    def day(self, text: str) -> date | None:
        if text not in self.days:
            try:
                self.days[text] = _day(text)
            except ValueError:
                self.days[text] = None
        return self.days[text]

    def code(
        self, paycode: str, component_text: str
    ) -> tuple[Paycode | None, Component | None, list[tuple[str, str]]]:
        key = (paycode, component_text)
        if key not in self.codes:
            problems: list[tuple[str, str]] = []
            known = self.paycodes.get(paycode)
            if known is None:
                problems.append(("paycode", f"unknown paycode {paycode!r}"))
            component = _COMPONENTS.get(component_text)
            if component is None:
                problems.append(("component", f"unknown component {component_text!r}"))
            if known is not None and component is not None and known.component is not component:
                problems.append(
                    (
                        "component",
                        f"paycode {paycode} pays {known.component.value}, not {component.value}",
                    )
                )
            self.codes[key] = (known, component, problems)
        return self.codes[key]

    def month_end(self, period: date) -> date:
        end = self.month_ends.get(period)
        if end is None:
            end = self.month_ends[period] = month_end(period)
        return end

    def line(  # noqa: PLR0912, PLR0915 - one flat check per column reads best
        self, cells: list[str], number: int, fail: Any
    ) -> ParsedLine | None:
        """One row's cells in the order of COLUMNS, stripped; its line, or None if wrong."""
        (
            ods_code, period_text, paycode, component_text, amount_text, description,
            covers_from_text, covers_to_text, paymaster_text, source_system, authoriser,
            status_text, *date_texts, gmc_number, remittance,
        ) = cells  # fmt: skip
        failures = 0

        problem = self.practice(ods_code)
        if problem is not None:
            failures += 1
            fail(number, "ods_code", problem)

        period = self.month(period_text)
        if period is None:
            failures += 1
            fail(number, "period", "not a month: give YYYY-MM or the month's first day")

        known, component, problems = self.code(paycode, component_text)
        for name, message in problems:
            failures += 1
            fail(number, name, message)

        amount = None
        matched = _AMOUNT.fullmatch(amount_text)
        if matched is not None:
            sign, whole, pence = matched.groups()
            amount = int(whole) * 100 + (int(pence.ljust(2, "0")) if pence else 0)
            if sign:
                amount = -amount
        else:
            try:
                amount = amount_pence(amount_text)
            except BadUserInput as error:
                failures += 1
                fail(number, "amount", error.message.replace("`amount` ", ""))
        rule = None if known is None else SIGN_RULE.get(known.sign)
        if amount is not None and rule is not None and amount * rule[0] < 0:
            failures += 1
            fail(number, "amount", f"paycode {paycode} {rule[1]}")

        covers_from = covers_to = None
        parsed: list[date | None] = []
        for index, (name, value) in enumerate(
            zip(_DATE_COLUMNS, (covers_from_text, covers_to_text, *date_texts), strict=True)
        ):
            day = None
            if value:
                day = self.day(value)
                if day is None:
                    failures += 1
                    fail(number, name, _NOT_A_DATE)
                    parsed.append(_UNREADABLE)
                    continue
            parsed.append(day)
            if index == 0:
                covers_from = day
            elif index == 1:
                covers_to = day
        covers_from = covers_from or period
        covers_to = covers_to or (None if period is None else self.month_end(period))
        if covers_from is not None and covers_to is not None and covers_to < covers_from:
            failures += 1
            fail(
                number, "covers_to", "the period covered ends before it starts (a negative period)"
            )

        paymaster = _PAYMASTERS.get(paymaster_text or Paymaster.NHS_ENGLAND.value)
        if paymaster is None:
            failures += 1
            fail(number, "paymaster", "must be nhs_england, icb or local_authority")
        status = _STATUSES.get(status_text or ChainStatus.PAID.value)
        if status is None:
            failures += 1
            fail(number, "status", "must be authorised, entered, paid, failed or reversed")
        elif parsed[_STATUS_INDEX[status]] is None:
            failures += 1
            fail(
                number,
                STATUS_DATE[status],
                f"a {status.value} line needs the date it was {status.value}",
            )

        source_system = source_system or DEFAULT_SOURCE
        if len(source_system) > 40:  # noqa: PLR2004 - the column's width
            failures += 1
            fail(number, "source_system", "at most 40 characters")
        if len(authoriser) > 200:  # noqa: PLR2004 - the column's width
            failures += 1
            fail(number, "authoriser", "at most 200 characters")
        description = description or (known.description if known else "")
        if len(description) > 200:  # noqa: PLR2004 - the column's width
            failures += 1
            fail(number, "description", "at most 200 characters")
        if gmc_number and not is_gmc_number(gmc_number):
            failures += 1
            fail(number, "gmc_number", "not a GMC number (seven digits)")
        if len(remittance) > 40:  # noqa: PLR2004 - the column's width
            failures += 1
            fail(number, "remittance_ref", "at most 40 characters")

        if (
            failures
            or paymaster is None
            or status is None
            or period is None
            or component is None
            or amount is None
            or covers_from is None
            or covers_to is None
        ):
            return None
        return ParsedLine(
            ods_code=ods_code,
            period=period,
            component=component,
            paycode=paycode,
            description=description,
            amount_pence=amount,
            covers_from=covers_from,
            covers_to=covers_to,
            paymaster=paymaster,
            source_system=source_system,
            authoriser=authoriser or None,
            status=status,
            dates=(parsed[2], parsed[3], parsed[4], parsed[5], parsed[6]),
            gmc_number=gmc_number or None,
            remittance_ref=remittance or None,
        )


_DATE_COLUMNS: Final = ("covers_from", "covers_to", *STATUS_DATE.values())
_STATUS_INDEX: Final = {status: _DATE_COLUMNS.index(name) for status, name in STATUS_DATE.items()}
_UNREADABLE: Final = date.min
"""In place of a date that did not parse: not None, so its status is not also reported as
undated (the one report is that the date is unreadable)."""
