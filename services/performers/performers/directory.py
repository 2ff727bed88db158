"""The practice directory from NHS Digital's ODS GP practice file, and list sizes by quarter.

``epraccur.csv`` is headerless, one practice (or other prescribing cost centre) a row, 27
columns in a fixed order; we read these (0-based):

====  ===========================  =======================================================
 col  ODS name                     here
====  ===========================  =======================================================
   0  Organisation Code            ``ods_code`` (a letter and five digits)
   1  Name                         ``name``
   2  National Grouping            ``region_code`` (NHS England region, e.g. Y58)
   3  High Level Health Geography  ``icb_code`` (the ICB, e.g. QT6)
 4-8  Address Lines 1-5            ``address`` (the non-empty lines, joined by ", ")
   9  Postcode                     ``postcode``
  10  Open Date                    ``opened_on`` (YYYYMMDD)
  11  Close Date                   ``closed_on`` (YYYYMMDD, or empty)
  12  Status Code                  ``status``: A active, C closed, D dormant, P proposed
  14  Commissioner                 ``sub_icb_code`` (the sub-ICB location, the former CCG)
  23  Provider/Purchaser           ``sub_icb_code`` when column 14 is empty
  25  Prescribing Setting          only 4 (GP practice) is loaded; other settings (walk-in
                                   centres, out-of-hours, prisons...) are counted and skipped
====  ===========================  =======================================================

The successor file (``succ.csv``, headerless) gives mergers: column 0 the old code, 1 its
successor, 2 the date (YYYYMMDD). A practice whose code has a successor keeps its row, closed
by the ODS file, with ``successor_code`` set.

A load is one transaction and idempotent: each row is compared with what is held, and only a
practice that changed is written, audited and published (``practice.upserted``). A second load
of the same file changes nothing. A practice new to the directory takes the LMC that covers its
ICB; where no single LMC does, the row is reported and left for an operator.

List sizes come from a file of our own layout, with a header: ``ods_code,quarter_start,
registered_patients,weighted_patients`` (quarter start the first day of Jan/Apr/Jul/Oct,
weighted to two decimal places). Each new or changed quarter is published as
``practice.list_size_recorded``; the latest quarter sets the practice's list size.
"""

from __future__ import annotations

import csv
import io
import re
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any, Final

from pcse_kit.events import OUTBOX_CHANNEL
from sqlalchemy import func, insert, select
from sqlalchemy.dialects.postgresql import insert as pg_insert

from performers.models import (
    AuditEvent,
    Lmc,
    LmcIcb,
    Outbox,
    Practice,
    PracticeListSize,
    PracticeStatus,
)
from performers.writes import STREAM, practice_payload

if TYPE_CHECKING:
    from pcse_kit.auth import Principal
    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

COLUMNS: Final = 27
GP_PRACTICE_SETTING: Final = "4"
STATUS: Final = {
    "A": PracticeStatus.ACTIVE,
    "C": PracticeStatus.CLOSED,
    "D": PracticeStatus.DORMANT,
    "P": PracticeStatus.PROPOSED,
}
_CODE = re.compile(r"[A-Z][0-9]{5}")
_ICB = re.compile(r"Q[A-Z0-9]{2}")
_SUB_ICB = re.compile(r"[A-Z0-9]{3,5}")
# The columns a load compares and writes: everything the ODS file says.
ODS_FIELDS: Final = (
    "name",
    "region_code",
    "icb_code",
    "address",
    "postcode",
    "opened_on",
    "closed_on",
    "status",
    "sub_icb_code",
    "successor_code",
)


@dataclass
class LoadReport:
    rows: int = 0
    practices: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    closed: int = 0
    merged: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    """Rows not loaded, by reason (other prescribing settings, no LMC for the ICB...)."""
    problems: list[str] = field(default_factory=list)
    """The first rows not loaded, each with its line and reason."""

    @property
    def changed(self) -> int:
        return self.inserted + self.updated


def _date(value: str, *, line: int, column: str) -> date | None:
    value = value.strip()
    if not value:
        return None
    try:
        return date(int(value[:4]), int(value[4:6]), int(value[6:8]))
    except ValueError:
        raise ValueError(f"line {line}: {column} {value!r} is not a YYYYMMDD date") from None


def parse_successors(text: str) -> dict[str, tuple[str, date | None]]:
    successors: dict[str, tuple[str, date | None]] = {}
    for line, row in enumerate(csv.reader(io.StringIO(text)), start=1):
        if len(row) < 2:  # noqa: PLR2004 - old and new code at least
            continue
        old, new = row[0].strip(), row[1].strip()
        if _CODE.fullmatch(old) and _CODE.fullmatch(new) and old != new:
            when = _date(row[2], line=line, column="date") if len(row) > 2 else None  # noqa: PLR2004
            successors[old] = (new, when)
    return successors


def _row_values(row: list[str], line: int) -> dict[str, Any]:
    code = row[0].strip()
    if not _CODE.fullmatch(code):
        raise ValueError(f"line {line}: {code!r} is not a practice code")
    status = STATUS.get(row[12].strip())
    if status is None:
        raise ValueError(f"line {line}: status code {row[12]!r} is not A, C, D or P")
    icb = row[3].strip()
    if not _ICB.fullmatch(icb):
        raise ValueError(f"line {line}: {icb!r} is not an ICB code")
    sub_icb = row[14].strip() or row[23].strip()
    if not _SUB_ICB.fullmatch(sub_icb):
        raise ValueError(f"line {line}: {sub_icb!r} is not a sub-ICB location code")
    name = row[1].strip()
    if not name:
        raise ValueError(f"line {line}: the name is empty")
    return {
        "ods_code": code,
        "name": name[:200],
        "region_code": row[2].strip()[:3] or None,
        "icb_code": icb,
        "address": ", ".join(part.strip() for part in row[4:9] if part.strip())[:300],
        "postcode": row[9].strip()[:8],
        "opened_on": _date(row[10], line=line, column="open date"),
        "closed_on": _date(row[11], line=line, column="close date"),
        "status": status,
        "sub_icb_code": sub_icb,
    }


async def load_directory(
    sessionmaker: async_sessionmaker[AsyncSession],
    principal: Principal,
    *,
    epraccur: str,
    successors: str | None = None,
    lmc_for_icb: dict[str, str] | None = None,
) -> LoadReport:
    """Load an ``epraccur.csv`` (and optionally ``succ.csv``) into the directory, in one
    transaction; only changes are written, audited and published. ``lmc_for_icb`` names the
    LMC for new practices of an ICB that no single LMC covers."""
    report = LoadReport()
    merged_into = parse_successors(successors) if successors else {}
    wanted: dict[str, dict[str, Any]] = {}
    for line, row in enumerate(csv.reader(io.StringIO(epraccur)), start=1):
        report.rows += 1
        if len(row) < COLUMNS - 1:
            report.skipped["not the ODS layout"] += 1
            report.problems.append(f"line {line}: {len(row)} columns, the layout has {COLUMNS}")
            continue
        if row[25].strip() != GP_PRACTICE_SETTING:
            report.skipped["not a GP practice (prescribing setting)"] += 1
            continue
        try:
            values = _row_values(row, line)
        except ValueError as error:
            report.skipped["malformed"] += 1
            report.problems.append(str(error))
            continue
        successor = merged_into.get(values["ods_code"])
        values["successor_code"] = None if successor is None else successor[0]
        wanted[values["ods_code"]] = values
    report.practices = len(wanted)

    async with sessionmaker.begin() as session:
        held = {
            p.ods_code: p
            for p in await session.scalars(
                select(Practice).where(Practice.ods_code.in_(list(wanted))).with_for_update()
            )
        }
        named = set((lmc_for_icb or {}).values())
        known = set(await session.scalars(select(Lmc.code).where(Lmc.code.in_(named))))
        if named - known:
            raise ValueError(f"no LMC has the code {', '.join(sorted(named - known))}")
        lmcs = await _single_lmc_by_icb(session) | (lmc_for_icb or {})
        inserts = _new_practices(report, [v for c, v in wanted.items() if c not in held], lmcs)
        audits: list[dict[str, Any]] = []
        updated: list[str] = []
        for code, practice in held.items():
            before = practice_payload(practice)
            if _apply_changes(report, practice, wanted[code]):
                audits.append(_audit_row(principal, code, before, practice_payload(practice)))
                updated.append(code)
        if inserts:
            await session.execute(insert(Practice), inserts)
        # The session writes the changed columns of each changed practice as it flushes.
        await session.flush()
        changed = [values["ods_code"] for values in inserts] + updated
        if changed:
            rows = await session.scalars(select(Practice).where(Practice.ods_code.in_(changed)))
            payloads = {p.ods_code: practice_payload(p) for p in rows}
            audits += [
                _audit_row(principal, v["ods_code"], None, payloads[v["ods_code"]]) for v in inserts
            ]
            await session.execute(insert(AuditEvent), audits)
            await publish_many(
                session, [("practice.upserted", code, payloads[code]) for code in changed]
            )
    return report


def _new_practices(
    report: LoadReport, rows: list[dict[str, Any]], lmc_of_icb: dict[str, str]
) -> list[dict[str, Any]]:
    """New practices take the LMC that alone covers their ICB; the rest wait for an operator."""
    inserts = []
    for values in rows:
        lmc = lmc_of_icb.get(values["icb_code"])
        if lmc is None:
            report.skipped["no single LMC covers the ICB"] += 1
            report.problems.append(
                f"{values['ods_code']}: no single LMC covers ICB {values['icb_code']}; name one "
                f"with --lmc {values['icb_code']}=CODE"
            )
            continue
        inserts.append({**values, "lmc_code": lmc, "list_size": 0})
        report.inserted += 1
    return inserts


def _apply_changes(report: LoadReport, practice: Practice, values: dict[str, Any]) -> bool:
    changes = {name: values[name] for name in ODS_FIELDS if getattr(practice, name) != values[name]}
    if not changes:
        report.unchanged += 1
        return False
    if changes.get("status") is PracticeStatus.CLOSED:
        report.closed += 1
    if changes.get("successor_code"):
        report.merged += 1
    for name, value in changes.items():
        setattr(practice, name, value)
    report.updated += 1
    return True


def _audit_row(
    principal: Principal, code: str, before: dict[str, Any] | None, after: dict[str, Any]
) -> dict[str, Any]:
    return {
        "actor_subject": principal.subject,
        "actor_role": str(principal.role),
        "action": "load_directory",
        "entity": "practice",
        "entity_key": code,
        "before": before,
        "after": after,
    }


async def _single_lmc_by_icb(session: AsyncSession) -> dict[str, str]:
    rows = await session.execute(
        select(LmcIcb.icb_code, func.min(LmcIcb.lmc_code))
        .group_by(LmcIcb.icb_code)
        .having(func.count() == 1)
    )
    return {icb: lmc for icb, lmc in rows.all()}  # noqa: C416 - rows, not pairs, to mypy


async def publish_many(session: AsyncSession, items: list[tuple[str, str, dict[str, Any]]]) -> None:
    """Many events in one statement, in order; one wake-up for the relay on commit."""
    if not items:
        return
    await session.execute(
        insert(Outbox),
        [
            {"event_id": uuid.uuid4(), "stream": STREAM, "type": t, "key": k, "payload": p}
            for t, k, p in items
        ],
    )
    await session.execute(select(func.pg_notify(OUTBOX_CHANNEL, STREAM)))


LIST_SIZE_HEADER: Final = ("ods_code", "quarter_start", "registered_patients", "weighted_patients")
QUARTER_MONTHS: Final = frozenset({1, 4, 7, 10})
TWO_PLACES: Final = Decimal("0.01")


class ListSizesRejected(ValueError):
    """The file had rows that cannot be loaded; nothing was written."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__(f"{len(problems)} rows cannot be loaded")
        self.problems = problems


@dataclass
class ListSizeReport:
    rows: int = 0
    recorded: int = 0
    unchanged: int = 0
    practices_resized: int = 0


def _list_size_row(row: list[str]) -> tuple[str, date, int, Decimal]:
    code, quarter, registered, weighted = (cell.strip() for cell in row)
    if not _CODE.fullmatch(code):
        raise ValueError(f"{code!r} is not a practice code")
    start = date.fromisoformat(quarter)
    if start.day != 1 or start.month not in QUARTER_MONTHS:
        raise ValueError(f"{quarter} is not the first day of a quarter")
    patients = int(registered)
    weight = Decimal(weighted)
    if patients < 0 or not weight.is_finite() or weight < 0:
        raise ValueError("patients cannot be negative")
    return code, start, patients, weight.quantize(TWO_PLACES, ROUND_HALF_UP)


def parse_list_sizes(text: str) -> list[tuple[str, date, int, Decimal]]:
    reader = csv.reader(io.StringIO(text))
    header = tuple(cell.strip().lower() for cell in next(reader, []))
    if header != LIST_SIZE_HEADER:
        raise ListSizesRejected([f"line 1: the header must be {','.join(LIST_SIZE_HEADER)}"])
    rows: list[tuple[str, date, int, Decimal]] = []
    problems: list[str] = []
    seen: set[tuple[str, date]] = set()
    for line, row in enumerate(reader, start=2):
        if not row:
            continue
        try:
            parsed = _list_size_row(row)
        except (ValueError, InvalidOperation) as error:
            problems.append(f"line {line}: {error}")
            continue
        if parsed[:2] in seen:
            problems.append(f"line {line}: {parsed[0]} {parsed[1]} appears twice")
        seen.add(parsed[:2])
        rows.append(parsed)
    if problems:
        raise ListSizesRejected(problems)
    return rows


async def load_list_sizes(
    sessionmaker: async_sessionmaker[AsyncSession],
    principal: Principal,
    *,
    text: str,
    source: str,
) -> ListSizeReport:
    """Record each practice's quarterly list sizes, all or nothing; only changes publish."""
    rows = parse_list_sizes(text)
    report = ListSizeReport(rows=len(rows))
    async with sessionmaker.begin() as session:
        codes = sorted({code for code, *_ in rows})
        practices = {
            p.ods_code: p
            for p in await session.scalars(
                select(Practice).where(Practice.ods_code.in_(codes)).with_for_update()
            )
        }
        unknown = [code for code in codes if code not in practices]
        if unknown:
            raise ListSizesRejected([f"{code}: not in the directory" for code in unknown[:20]])
        held = {
            (r.ods_code, r.quarter_start): r
            for r in await session.scalars(
                select(PracticeListSize).where(PracticeListSize.ods_code.in_(codes))
            )
        }
        latest: dict[str, date] = {}
        for code, quarter in held:
            latest[code] = max(quarter, latest.get(code, quarter))
        changed: list[dict[str, Any]] = []
        events: list[tuple[str, str, dict[str, Any]]] = []
        audits: list[dict[str, Any]] = []
        for code, quarter, registered, weighted in rows:
            row = held.get((code, quarter))
            if row is not None and (row.registered_patients, row.weighted_patients) == (
                registered,
                weighted,
            ):
                report.unchanged += 1
                continue
            values: dict[str, Any] = {
                "ods_code": code,
                "quarter_start": quarter,
                "registered_patients": registered,
                "weighted_patients": weighted,
                "source": source[:200],
            }
            changed.append(values)
            payload = {
                "odsCode": code,
                "quarterStart": quarter.isoformat(),
                "registeredPatients": registered,
                "weightedPatients": f"{weighted:.2f}",
                "source": source[:200],
            }
            previous = None if row is None else {
                "registeredPatients": row.registered_patients,
                "weightedPatients": f"{row.weighted_patients:.2f}",
            }  # fmt: skip
            audits.append(
                {
                    "actor_subject": principal.subject,
                    "actor_role": str(principal.role),
                    "action": "record_list_size",
                    "entity": "practice_list_size",
                    "entity_key": f"{code}:{quarter.isoformat()}",
                    "before": previous,
                    "after": payload,
                }
            )
            events.append(("practice.list_size_recorded", code, payload))
            latest[code] = max(latest.get(code, quarter), quarter)
            report.recorded += 1
        if changed:
            statement = pg_insert(PracticeListSize)
            await session.execute(
                statement.on_conflict_do_update(
                    index_elements=["ods_code", "quarter_start"],
                    set_={
                        "registered_patients": statement.excluded.registered_patients,
                        "weighted_patients": statement.excluded.weighted_patients,
                        "source": statement.excluded.source,
                        "recorded_at": func.now(),
                    },
                ),
                changed,
            )
            by_key = {(v["ods_code"], v["quarter_start"]): v for v in changed}
            for code, quarter in latest.items():
                fresh = by_key.get((code, quarter))
                practice = practices[code]
                if fresh is None or practice.list_size == fresh["registered_patients"]:
                    continue
                before = practice_payload(practice)
                practice.list_size = int(fresh["registered_patients"])
                after = practice_payload(practice)
                audits.append(
                    {**_audit_row(principal, code, before, after), "action": "record_list_size"}
                )
                events.append(("practice.upserted", code, after))
                report.practices_resized += 1
            await session.flush()
            await session.execute(insert(AuditEvent), audits)
            await publish_many(session, events)
    return report
