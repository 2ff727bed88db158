"""Exports that book correctly: the money that moved, in the layouts accountants' tools import.

Cash basis. A row is money that reached (or left) the practice's bank account on a day: a paid
line on its payment date, at its amount; a reversed line on the day it was taken back, at minus
its amount. Authorised, entered and failed lines moved nothing and are not rows; neither is a
paid line of £0. So the sum of an export's amounts is exactly what the API's remittances say
reached the bank in the range (see :func:`payments.statements.export.remittances`).

Every text cell is neutralised against spreadsheet formula injection (OWASP, "CSV Injection"):
a cell starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return gets a leading
``'``. Amount cells are numbers this module writes itself (``-1450.00``): they are never text
from a statement, so they are left as numbers, negative ones included.

The layouts, as each vendor documents its import (the README cites the pages):

- ``XERO``: Xero's bank statement CSV: ``Date, Amount, Payee, Description, Reference``, one
  signed amount (money out negative), dates DD/MM/YYYY.
- ``QUICKBOOKS_3``: QuickBooks Online's 3-column bank upload: ``Date, Description, Amount``.
- ``QUICKBOOKS_4``: its 4-column upload: ``Date, Description, Credit, Debit``; Intuit's UK page
  names Credit as money out and Debit as money in, both positive, one of them per row, the
  other blank.
- ``SAGE``: Sage Accounting's CSV bank statement import: ``Date, Reference, Description,
  Amount``, one signed amount.
- ``JOURNAL``: a double-entry journal with nominal codes from the chart-of-accounts mapping:
  each movement is two rows, the bank and the component's account, debits equal to credits.
"""

from __future__ import annotations

import csv
import enum
import io
from dataclasses import dataclass
from datetime import date, timedelta
from typing import TYPE_CHECKING

from pcse_kit.errors import BadUserInput

from payments.models import ChainStatus, Component, Paymaster

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from payments.models import LineRow

MAX_RANGE_DAYS = 1_096
"""Three years: an accountant's year with the two before it for comparison. Longer ranges are
refused (ask for them a range at a time): the rows stream, but a request must end."""


class LedgerFormat(enum.StrEnum):
    XERO = "xero"
    QUICKBOOKS_3 = "quickbooks3"
    QUICKBOOKS_4 = "quickbooks4"
    SAGE = "sage"
    JOURNAL = "journal"


HEADERS: dict[LedgerFormat, tuple[str, ...]] = {
    LedgerFormat.XERO: ("Date", "Amount", "Payee", "Description", "Reference"),
    LedgerFormat.QUICKBOOKS_3: ("Date", "Description", "Amount"),
    LedgerFormat.QUICKBOOKS_4: ("Date", "Description", "Credit", "Debit"),
    LedgerFormat.SAGE: ("Date", "Reference", "Description", "Amount"),
    LedgerFormat.JOURNAL: (
        "Date",
        "Journal",
        "Practice",
        "Reference",
        "Nominal code",
        "Account",
        "Description",
        "Debit",
        "Credit",
    ),
}

PAYEES = {
    Paymaster.NHS_ENGLAND: "NHS England (PCSE)",
    Paymaster.ICB: "Integrated care board (PCSE)",
    Paymaster.LOCAL_AUTHORITY: "Local authority",
}


@dataclass(frozen=True)
class NominalAccount:
    code: str
    name: str


BANK_ACCOUNT = NominalAccount("1200", "Bank: practice current account")

DEFAULT_CHART: dict[Component, NominalAccount] = {
    Component.GLOBAL_SUM: NominalAccount("4000", "GMS global sum"),
    Component.PMS_BASELINE: NominalAccount("4001", "PMS contract baseline"),
    Component.APMS_CONTRACT: NominalAccount("4002", "APMS contract payments"),
    Component.QOF_ASPIRATION: NominalAccount("4100", "QOF aspiration"),
    Component.QOF_ACHIEVEMENT: NominalAccount("4101", "QOF achievement"),
    Component.ENHANCED_SERVICE: NominalAccount("4200", "Enhanced services"),
    Component.PCN: NominalAccount("4210", "PCN income"),
    Component.PREMISES: NominalAccount("4300", "Premises reimbursements: rent and rates"),
    Component.SENIORITY: NominalAccount("4400", "Seniority payments"),
    Component.LOCUM_ALLOWANCE: NominalAccount("4410", "Locum reimbursements"),
    Component.TRAINEE_REIMBURSEMENT: NominalAccount("4500", "GP registrar reimbursement"),
    Component.TRAINING_GRANT: NominalAccount("4510", "Trainer's grant"),
    Component.DRUGS: NominalAccount("4600", "Dispensing: drugs reimbursement"),
    Component.DISPENSING_FEES: NominalAccount("4610", "Dispensing: fees"),
    Component.PRESCRIPTION_CHARGE_INCOME: NominalAccount(
        "4620", "Dispensing: prescription charges collected"
    ),
    Component.OTHER: NominalAccount("4900", "Other NHS income"),
    Component.EMPLOYEE_SUPERANNUATION: NominalAccount(
        "2300", "Partners' current accounts: NHS pension (employee)"
    ),
    Component.EMPLOYER_SUPERANNUATION: NominalAccount(
        "2310", "Partners' current accounts: NHS pension (employer)"
    ),
    Component.PENSION_ADMIN_LEVY: NominalAccount(
        "2310", "Partners' current accounts: NHS pension (employer)"
    ),
    Component.ADDITIONAL_VOLUNTARY_CONTRIBUTIONS: NominalAccount(
        "2320", "Partners' current accounts: pension AVCs, added years, ERRBO"
    ),
    Component.ADDED_YEARS: NominalAccount(
        "2320", "Partners' current accounts: pension AVCs, added years, ERRBO"
    ),
    Component.ERRBO: NominalAccount(
        "2320", "Partners' current accounts: pension AVCs, added years, ERRBO"
    ),
    Component.LMC_STATUTORY_LEVY: NominalAccount("7900", "LMC levies"),
    Component.LMC_VOLUNTARY_LEVY: NominalAccount("7900", "LMC levies"),
}
"""The chart of accounts a journal uses unless the caller set its own codes: income in the
4000s by the headings of the NHS payments to general practice, partners' pension deductions to
their current accounts (a GP's superannuation is the partner's, not a practice expense), and
the LMC levies an expense. Documented in the README; an accountant changes a code with
``setNominalCode``."""


@dataclass(frozen=True)
class CashRow:
    """One movement of money: a line that was paid, or a payment taken back."""

    ods_code: str
    on: date
    amount_pence: int
    period: date
    line: LineRow


def cash_rows(ods_code: str, period: date, line: LineRow) -> CashRow | None:
    """The movement a line made, or None for a line that moved nothing."""
    if line.status is ChainStatus.PAID and line.paid_on is not None:
        on, amount = line.paid_on, line.amount_pence
    elif line.status is ChainStatus.REVERSED and line.reversed_on is not None:
        on, amount = line.reversed_on, -line.amount_pence
    else:
        return None
    if amount == 0:
        return None
    return CashRow(ods_code=ods_code, on=on, amount_pence=amount, period=period, line=line)


def date_range(start: str | date | None, end: str | date | None) -> tuple[date, date]:
    """``from`` and ``to`` as dates, both included; a typed error naming the field otherwise."""

    def parse(value: str | date | None, field: str) -> date:
        if isinstance(value, date):
            return value
        if not value:
            raise BadUserInput(f"`{field}` is required (an ISO date, 2026-04-01).", field=field)
        try:
            return date.fromisoformat(value)
        except ValueError:
            raise BadUserInput(
                f"`{field}` must be an ISO date like 2026-04-01.", field=field
            ) from None

    first, last = parse(start, "from"), parse(end, "to")
    if first > last:
        raise BadUserInput("`to` is before `from`.", field="to")
    if last - first >= timedelta(days=MAX_RANGE_DAYS):
        raise BadUserInput(
            f"The range is longer than {MAX_RANGE_DAYS} days; export it a part at a time.",
            field="to",
        )
    return first, last


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def text(value: str) -> str:
    """A text cell a spreadsheet will show as text: one that could start a formula gets a
    leading apostrophe (OWASP CSV injection guidance). Quoting is the csv writer's job."""
    if value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def pounds(pence: int) -> str:
    """An amount cell: a plain number, two decimals, minus for money out; never text."""
    sign = "-" if pence < 0 else ""
    whole, part = divmod(abs(pence), 100)
    return f"{sign}{whole}.{part:02d}"


def _day(value: date) -> str:
    return value.strftime("%d/%m/%Y")


def _description(row: CashRow) -> str:
    line = row.line
    covers = (
        line.covers_from.strftime("%b %Y")
        if (line.covers_from.year, line.covers_from.month)
        == (line.covers_to.year, line.covers_to.month)
        else f"{line.covers_from:%b %Y} to {line.covers_to:%b %Y}"
    )
    taken_back = "reversal: " if line.status is ChainStatus.REVERSED else ""
    return f"{taken_back}{line.paycode} {line.description} ({covers})"


def _reference(row: CashRow) -> str:
    return row.line.remittance_ref or f"{row.ods_code} {row.period:%Y-%m}"


def cells(
    fmt: LedgerFormat, row: CashRow, chart: Mapping[Component, NominalAccount]
) -> list[list[str]]:
    """The CSV rows (one, or two for a journal) of one movement, every text cell neutralised."""
    description, reference = text(_description(row)), text(_reference(row))
    amount, on = row.amount_pence, _day(row.on)
    if fmt is LedgerFormat.XERO:
        payee = PAYEES[row.line.paymaster]
        return [[on, pounds(amount), text(payee), description, reference]]
    if fmt is LedgerFormat.QUICKBOOKS_3:
        return [[on, description, pounds(amount)]]
    if fmt is LedgerFormat.QUICKBOOKS_4:
        credit = pounds(-amount) if amount < 0 else ""
        debit = pounds(amount) if amount > 0 else ""
        return [[on, description, credit, debit]]
    if fmt is LedgerFormat.SAGE:
        return [[on, reference, description, pounds(amount)]]
    account = chart.get(row.line.component) or DEFAULT_CHART[row.line.component]
    journal = text(f"PCSE {row.line.id}")
    money_in, money_out = (pounds(amount), "") if amount > 0 else ("", pounds(-amount))
    common = [on, journal, row.ods_code, reference]
    return [
        [*common, BANK_ACCOUNT.code, text(BANK_ACCOUNT.name), description, money_in, money_out],
        [*common, text(account.code), text(account.name), description, money_out, money_in],
    ]


class Writer:
    """Writes one format's CSV a batch of movements at a time, so a file of any length streams
    with only one batch in memory."""

    def __init__(self, fmt: LedgerFormat, chart: Mapping[Component, NominalAccount]) -> None:
        self.fmt = fmt
        self.chart = chart
        self.buffer = io.StringIO()
        self.writer = csv.writer(self.buffer, lineterminator="\r\n")

    def _take(self) -> str:
        value = self.buffer.getvalue()
        self.buffer.seek(0)
        self.buffer.truncate()
        return value

    def header(self) -> str:
        self.writer.writerow(HEADERS[self.fmt])
        return self._take()

    def rows(self, rows: Iterable[CashRow]) -> str:
        for row in rows:
            self.writer.writerows(cells(self.fmt, row, self.chart))
        return self._take()


def write_csv(
    fmt: LedgerFormat,
    rows: Iterable[CashRow],
    chart: Mapping[Component, NominalAccount] | None = None,
) -> str:
    """A whole file at once (for tests and small files)."""
    writer = Writer(fmt, chart or {})
    return writer.header() + writer.rows(rows)
