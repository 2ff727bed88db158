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
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any, Final

from pcse_kit.errors import BadUserInput
from pcse_kit.identifiers import is_gmc_number, is_practice_code

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


@dataclass(frozen=True)
class ParsedLine:
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
) -> ParsedRun:
    """Every row checked; :class:`RunRejected` with the whole report if any is wrong."""
    errors: list[RowError] = []
    total = 0

    def fail(row: int, field: str, message: str) -> None:
        nonlocal total
        total += 1
        if len(errors) < MAX_REPORTED_ROWS:
            errors.append(RowError(row, field, message))

    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = reader.fieldnames or []
    missing = [c for c in REQUIRED if c not in header]
    unknown = [c for c in header if c not in COLUMNS]
    for column in missing:
        fail(1, column, "required column missing from the header")
    for column in unknown:
        fail(1, column, "not a column of the payment run format")
    if missing or unknown:
        raise RunRejected(errors, total=total)

    run = ParsedRun(digest=hashlib.sha256(text.encode()).hexdigest())
    for row in reader:
        number = reader.line_num
        if None in row:  # more cells than the header has names
            fail(number, "row", "more cells than the header has columns")
            continue
        line = _row(row, number, fail, paycodes=paycodes, known_practices=known_practices)
        if line is not None:
            run.lines.append(line)
    if not run.lines and not total:
        fail(1, "csv", "the run has no lines")
    if total:
        raise RunRejected(errors, total=total)
    return run


def _row(  # noqa: PLR0912, PLR0915 - one flat check per column reads best
    row: dict[str, str | None],
    number: int,
    fail: Any,
    *,
    paycodes: Mapping[str, Paycode],
    known_practices: set[str],
) -> ParsedLine | None:
    def cell(name: str) -> str:
        return (row.get(name) or "").strip()

    failures = 0

    def bad(name: str, message: str) -> None:
        nonlocal failures
        failures += 1
        fail(number, name, message)

    ods_code = cell("ods_code")
    if not is_practice_code(ods_code):
        bad("ods_code", "not an ODS practice code (a capital letter and five digits)")
    elif ods_code not in known_practices:
        bad("ods_code", "no such practice in the practice directory")

    period = None
    try:
        period = _month(cell("period"))
    except ValueError:
        bad("period", "not a month: give YYYY-MM or the month's first day")

    paycode = cell("paycode")
    component = None
    known = paycodes.get(paycode)
    if known is None:
        bad("paycode", f"unknown paycode {paycode!r}")
    component = _COMPONENTS.get(cell("component"))
    if component is None:
        bad("component", f"unknown component {cell('component')!r}")
    if known is not None and component is not None and known.component is not component:
        bad("component", f"paycode {paycode} pays {known.component.value}, not {component.value}")

    amount = None
    try:
        amount = amount_pence(cell("amount"))
    except BadUserInput as error:
        bad("amount", error.message.replace("`amount` ", ""))
    rule = None if known is None else SIGN_RULE.get(known.sign)
    if amount is not None and rule is not None and amount * rule[0] < 0:
        bad("amount", f"paycode {paycode} {rule[1]}")

    dates: dict[str, date | None] = {}
    for name in ("covers_from", "covers_to", *STATUS_DATE.values()):
        try:
            dates[name] = _day(cell(name)) if cell(name) else None
        except ValueError:
            bad(name, "not a date (YYYY-MM-DD)")
    covers_from = dates.get("covers_from") or period
    covers_to = dates.get("covers_to") or (None if period is None else month_end(period))
    if covers_from is not None and covers_to is not None and covers_to < covers_from:
        bad("covers_to", "the period covered ends before it starts (a negative period)")

    paymaster = _PAYMASTERS.get(cell("paymaster") or Paymaster.NHS_ENGLAND.value)
    if paymaster is None:
        bad("paymaster", "must be nhs_england, icb or local_authority")
    status = _STATUSES.get(cell("status") or ChainStatus.PAID.value)
    if status is None:
        bad("status", "must be authorised, entered, paid, failed or reversed")
    elif STATUS_DATE[status] in dates and dates[STATUS_DATE[status]] is None:
        bad(STATUS_DATE[status], f"a {status.value} line needs the date it was {status.value}")

    source_system = cell("source_system") or DEFAULT_SOURCE
    if len(source_system) > 40:  # noqa: PLR2004 - the column's width
        bad("source_system", "at most 40 characters")
    authoriser = cell("authoriser") or None
    if authoriser is not None and len(authoriser) > 200:  # noqa: PLR2004 - the column's width
        bad("authoriser", "at most 200 characters")
    description = cell("description") or (known.description if known else "")
    if len(description) > 200:  # noqa: PLR2004 - the column's width
        bad("description", "at most 200 characters")
    gmc_number = cell("gmc_number") or None
    if gmc_number is not None and not is_gmc_number(gmc_number):
        bad("gmc_number", "not a GMC number (seven digits)")
    remittance = cell("remittance_ref") or None
    if remittance is not None and len(remittance) > 40:  # noqa: PLR2004 - the column's width
        bad("remittance_ref", "at most 40 characters")

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
        authoriser=authoriser,
        status=status,
        dates=(
            dates.get("authorised_on"),
            dates.get("entered_on"),
            dates.get("paid_on"),
            dates.get("failed_on"),
            dates.get("reversed_on"),
        ),
        gmc_number=gmc_number,
        remittance_ref=remittance,
    )
