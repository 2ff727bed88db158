"""The public "NHS Payments to General Practice, England" data set, and statements against it.

NHS Digital publishes, every year since 2013/14, one row per practice with its payments for the
financial year on a cash basis (from NHAIS and ISFE). Its headings drift between years, so each
measure below lists the spellings it has had; a heading is matched ignoring case, spacing and
punctuation. Columns this service cannot match to statements (region, PCN and practice names,
list sizes, per-patient averages, MPIG, each enhanced service) are read past, not refused.

=====================================================  ====================================
heading in the data set                                measure (components of our lines)
=====================================================  ====================================
Practice Code                                          the practice (required)
Global Sum                                             global_sum
Balance of PMS Expenditure                             pms_balance (pms_baseline)
Total QOF Payments                                     qof (aspiration and achievement)
Premises Payments                                      premises
Seniority                                              seniority
Total Locum Allowances                                 locum_allowances
PCN Participation ... (every column starting "PCN")    pcn
Prescribing Fee Payments + Dispensing Fee Payments     prescribing_and_dispensing_fees
Reimbursement of Drugs                                 drugs
Other Payments                                         other
Total NHS Payments to General Practice                 total (every payment component)
Deductions for Pensions, Levies and Prescription       deductions (every deduction, shown
Charge Income                                          positive, as published)
Total NHS Payments to General Practice Minus           net
Deductions
=====================================================  ====================================

Amounts are pounds, with or without ``£`` and thousands separators, at most two decimals; an
empty cell is no figure. A year is imported all or nothing, and importing it again with the
same file changes nothing.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, Final

from pcse_kit.errors import BadUserInput
from pcse_kit.identifiers import is_practice_code

from payments.models import DEDUCTIONS, Component, Measure
from payments.statements.ingest import MAX_REPORTED_ROWS, RowError, RunRejected, amount_pence

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

PRACTICE_CODE: Final = "practicecode"
HEADINGS: Final[dict[Measure, tuple[str, ...]]] = {
    Measure.GLOBAL_SUM: ("Global Sum",),
    Measure.PMS_BALANCE: ("Balance of PMS Expenditure",),
    Measure.QOF: ("Total QOF Payments",),
    Measure.PREMISES: ("Premises Payments",),
    Measure.SENIORITY: ("Seniority",),
    Measure.LOCUM_ALLOWANCES: ("Total Locum Allowances",),
    Measure.PRESCRIBING_AND_DISPENSING_FEES: (
        "Prescribing Fee Payments",
        "Dispensing Fee Payments",
    ),
    Measure.DRUGS: ("Reimbursement of Drugs",),
    Measure.OTHER: ("Other Payments",),
    Measure.TOTAL: ("Total NHS Payments to General Practice",),
    Measure.DEDUCTIONS: ("Deductions for Pensions, Levies and Prescription Charge Income",),
    Measure.NET: ("Total NHS Payments to General Practice Minus Deductions",),
}
PCN_PREFIX: Final = "pcn"
PAYMENTS: Final = frozenset(Component) - DEDUCTIONS
COMPONENTS: Final[dict[Measure, frozenset[Component]]] = {
    Measure.GLOBAL_SUM: frozenset({Component.GLOBAL_SUM}),
    Measure.PMS_BALANCE: frozenset({Component.PMS_BASELINE}),
    Measure.QOF: frozenset({Component.QOF_ASPIRATION, Component.QOF_ACHIEVEMENT}),
    Measure.PREMISES: frozenset({Component.PREMISES}),
    Measure.SENIORITY: frozenset({Component.SENIORITY}),
    Measure.LOCUM_ALLOWANCES: frozenset({Component.LOCUM_ALLOWANCE}),
    Measure.PCN: frozenset({Component.PCN}),
    Measure.PRESCRIBING_AND_DISPENSING_FEES: frozenset({Component.DISPENSING_FEES}),
    Measure.DRUGS: frozenset({Component.DRUGS}),
    Measure.OTHER: frozenset({Component.OTHER}),
    Measure.TOTAL: PAYMENTS,
    Measure.DEDUCTIONS: DEDUCTIONS,
}


def _key(heading: str) -> str:
    return re.sub(r"[^a-z0-9]", "", heading.lower())


_BY_KEY: Final = {_key(h): m for m, headings in HEADINGS.items() for h in headings}


def measure_of(heading: str) -> Measure | None:
    key = _key(heading)
    if key in _BY_KEY:
        return _BY_KEY[key]
    if key.startswith(PCN_PREFIX) and key not in {"pcncode", "pcnname"}:
        return Measure.PCN
    return None


@dataclass
class PublishedRows:
    rows: list[tuple[str, Measure, int, str]] = field(default_factory=list)
    """(practice, measure, pence, heading)."""
    practices: int = 0
    digest: str = ""


def parse(text: str) -> PublishedRows:  # noqa: PLR0912 - the header's checks, then each row's
    """One year of the data set, every row checked; :class:`RunRejected` if any is wrong."""
    reader = csv.reader(io.StringIO(text, newline=""))
    header = next(reader, [])
    code_column = next((i for i, h in enumerate(header) if _key(h) == PRACTICE_CODE), None)
    columns: dict[Measure, list[int]] = {}
    for index, heading in enumerate(header):
        measure = measure_of(heading)
        if measure is not None:
            columns.setdefault(measure, []).append(index)
    errors: list[RowError] = []
    total = 0

    def fail(row: int, name: str, message: str) -> None:
        nonlocal total
        total += 1
        if len(errors) < MAX_REPORTED_ROWS:
            errors.append(RowError(row, name, message))

    if code_column is None or not columns:
        if code_column is None:
            fail(1, "Practice Code", "the data set's practice code column is missing")
        if not columns:
            fail(1, "header", "no column of the data set that statements can be compared with")
        raise RunRejected(errors, total=total)

    parsed = PublishedRows(digest=hashlib.sha256(text.encode()).hexdigest())
    seen: set[str] = set()
    for cells in reader:
        number = reader.line_num
        if not any(cell.strip() for cell in cells):
            continue
        if len(cells) != len(header):
            fail(number, "row", f"{len(cells)} cells for {len(header)} columns")
            continue
        code = cells[code_column].strip()
        if not is_practice_code(code):
            fail(number, header[code_column], "not an ODS practice code")
            continue
        if code in seen:
            fail(number, header[code_column], f"{code} appears twice")
            continue
        seen.add(code)
        for measure, indexes in columns.items():
            figures = [(header[i], cells[i].strip()) for i in indexes if cells[i].strip()]
            pence = _sum(figures, partial(fail, number))
            if figures and pence is not None:
                parsed.rows.append((code, measure, pence, " + ".join(h for h, _ in figures)))
    if total:
        raise RunRejected(errors, total=total)
    parsed.practices = len(seen)
    return parsed


def _sum(figures: list[tuple[str, str]], fail: Callable[[str, str], None]) -> int | None:
    """The cells' pounds added up in pence; None (each bad cell reported) if any is wrong."""
    pence, ok = 0, True
    for heading, value in figures:
        try:
            pence += amount_pence(value, field=heading)
        except BadUserInput as error:
            fail(heading, error.message.replace(f"`{heading}` ", ""))
            ok = False
    return pence if ok else None


def from_statements(cash: Mapping[Component, int]) -> dict[Measure, int]:
    """Statements' cash in a year, in the data set's measures and signs."""
    figures = {
        measure: sum(cash.get(c, 0) for c in components)
        for measure, components in COMPONENTS.items()
    }
    figures[Measure.DEDUCTIONS] = -figures[Measure.DEDUCTIONS]
    figures[Measure.NET] = figures[Measure.TOTAL] - figures[Measure.DEDUCTIONS]
    return figures
