"""Statement exports for accountants: CSV in the payment run format, and JSON.

Both are built from the same lines as the API and carry the same totals: a line counts what it
did to the bank balance (see :func:`payments.detection.rules.effect`), so the exports and the API
agree to the penny.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING

from payments.detection.rules import effect
from payments.models import ChainStatus
from payments.statements.ingest import COLUMNS

if TYPE_CHECKING:
    from collections.abc import Sequence
    from datetime import date

    from payments.models import LineRow, Statement


@dataclass(frozen=True)
class Totals:
    gross_pence: int
    deductions_pence: int

    @property
    def net_pence(self) -> int:
        return self.gross_pence + self.deductions_pence


def totals(lines: Sequence[LineRow]) -> Totals:
    return Totals(
        gross_pence=sum(effect(line) for line in lines if not line.component.is_deduction),
        deductions_pence=sum(effect(line) for line in lines if line.component.is_deduction),
    )


@dataclass(frozen=True)
class RemittanceGroup:
    paid_on: date
    reference: str | None
    lines: tuple[LineRow, ...]

    @property
    def net_pence(self) -> int:
        return sum(effect(line) for line in self.lines)


def remittances(lines: Sequence[LineRow]) -> list[RemittanceGroup]:
    """The lines that moved money, grouped into bank credits: a payment on its paid date, a
    reversal on the date it was taken back, each with the run's remittance reference."""
    groups: dict[tuple[date, str], list[LineRow]] = {}
    for line in lines:
        day = line.reversed_on if line.status is ChainStatus.REVERSED else line.paid_on
        if effect(line) == 0 and line.status is not ChainStatus.PAID:
            continue
        if day is None:
            continue
        groups.setdefault((day, line.remittance_ref or ""), []).append(line)
    return [
        RemittanceGroup(paid_on=day, reference=reference or None, lines=tuple(found))
        for (day, reference), found in sorted(groups.items())
    ]


def _pounds(pence: int) -> str:
    sign = "-" if pence < 0 else ""
    whole, part = divmod(abs(pence), 100)
    return f"{sign}{whole}.{part:02d}"


def _row(statement: Statement, line: LineRow) -> dict[str, str]:
    def day(value: object) -> str:
        return "" if value is None else str(value)

    return {
        "ods_code": statement.ods_code,
        "period": statement.period.isoformat(),
        "paycode": line.paycode,
        "component": line.component.value,
        "amount": _pounds(line.amount_pence),
        "description": line.description,
        "covers_from": line.covers_from.isoformat(),
        "covers_to": line.covers_to.isoformat(),
        "paymaster": line.paymaster.value,
        "source_system": line.source_system,
        "authoriser": line.authoriser or "",
        "status": line.status.value,
        "authorised_on": day(line.authorised_on),
        "entered_on": day(line.entered_on),
        "paid_on": day(line.paid_on),
        "failed_on": day(line.failed_on),
        "reversed_on": day(line.reversed_on),
        "gmc_number": line.gmc_number or "",
        "remittance_ref": line.remittance_ref or "",
    }


def to_csv(statement: Statement, lines: Sequence[LineRow]) -> str:
    """One row per line, in the payment run format: an accountant's tool can read it back."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    for line in lines:
        writer.writerow(_row(statement, line))
    return buffer.getvalue()


def to_json(statement: Statement, lines: Sequence[LineRow]) -> str:
    total = totals(lines)
    return json.dumps(
        {
            "odsCode": statement.ods_code,
            "period": statement.period.isoformat(),
            "paymentDate": statement.payment_date.isoformat(),
            "sourceSystem": statement.source_system,
            "lines": [_row(statement, line) for line in lines],
            "totals": {
                "gross": _pounds(total.gross_pence),
                "deductions": _pounds(total.deductions_pence),
                "net": _pounds(total.net_pence),
            },
        },
        indent=2,
    )
