"""What the published performers list shows, from an export of it.

NHS England must publish the list (SI 2013/335 reg 3). A GP it includes whom the published list
does not show is "entitled but not visible", the BMA's complaint that costs GPs their work; the
same GMC number shown twice is an entry made twice. The export is a CSV with a header holding
at least ``gmc_number``; one row per entry shown, other columns ignored.

A load records, for every performer held, how many entries the export had under the GMC
number and the day it was taken. Only a performer whose visibility or count changed is audited
and published (``performer.public_list_checked``), so the same export loaded twice changes
nothing the second time.
"""

from __future__ import annotations

import csv
import io
import re
from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, cast

from sqlalchemy import bindparam, insert, select, update

from performers.directory import publish_many
from performers.models import AuditEvent, Performer

if TYPE_CHECKING:
    from datetime import date

    from pcse_kit.auth import Principal
    from sqlalchemy import Table
    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

_GMC: Final = re.compile(r"[0-9]{7}")


class ExportRejected(ValueError):
    """The file is not an export of the list; nothing was written."""


@dataclass
class PublishedReport:
    entries: int = 0
    numbers: int = 0
    changed: int = 0
    not_visible: int = 0
    listed_twice: int = 0
    not_held: int = 0
    """GMC numbers the export shows that this service does not hold."""
    malformed: int = 0


def count_entries(text: str) -> tuple[Counter[str], int]:
    """Entries per GMC number, and rows whose number is not seven digits."""
    reader = csv.DictReader(io.StringIO(text))
    fields = [name.strip().lower() for name in reader.fieldnames or []]
    if "gmc_number" not in fields:
        raise ExportRejected("the header must name a gmc_number column")
    reader.fieldnames = fields
    counts: Counter[str] = Counter()
    malformed = 0
    for row in reader:
        number = (row.get("gmc_number") or "").strip()
        if _GMC.fullmatch(number):
            counts[number] += 1
        else:
            malformed += 1
    return counts, malformed


async def load_published_list(
    sessionmaker: async_sessionmaker[AsyncSession],
    principal: Principal,
    *,
    text: str,
    checked_on: date,
) -> PublishedReport:
    counts, malformed = count_entries(text)
    report = PublishedReport(entries=sum(counts.values()), numbers=len(counts), malformed=malformed)
    async with sessionmaker.begin() as session:
        held = (
            await session.execute(
                select(
                    Performer.gmc_number,
                    Performer.status,
                    Performer.public_list_entries,
                    Performer.public_list_checked_on,
                ).with_for_update()
            )
        ).all()
        report.not_held = len(set(counts) - {row.gmc_number for row in held})
        changes: list[dict[str, Any]] = []
        audits: list[dict[str, Any]] = []
        events: list[tuple[str, str, dict[str, Any]]] = []
        for gmc, status, entries_before, checked_before in held:
            entries = counts.get(gmc, 0)
            report.not_visible += entries == 0
            report.listed_twice += entries > 1
            if entries == entries_before:
                continue
            changes.append({"b_gmc": gmc, "b_entries": entries, "b_visible": entries > 0})
            after = {
                "gmcNumber": gmc,
                "status": status.value,
                "visible": entries > 0,
                "entries": entries,
                "checkedOn": checked_on.isoformat(),
            }
            before = {
                "entries": entries_before,
                "checkedOn": None if checked_before is None else checked_before.isoformat(),
            }
            audits.append(
                {
                    "actor_subject": principal.subject,
                    "actor_role": str(principal.role),
                    "action": "load_published_list",
                    "entity": "performer",
                    "entity_key": gmc,
                    "before": before,
                    "after": after,
                }
            )
            events.append(("performer.public_list_checked", gmc, after))
        report.changed = len(changes)
        # Every performer held was checked on this day; one statement.
        await session.execute(update(Performer).values(public_list_checked_on=checked_on))
        if changes:
            table = cast("Table", Performer.__table__)
            await session.execute(
                update(table)
                .where(table.c.gmc_number == bindparam("b_gmc"))
                .values(
                    public_list_entries=bindparam("b_entries"),
                    public_list_visible=bindparam("b_visible"),
                ),
                changes,
            )
        if audits:
            await session.execute(insert(AuditEvent), audits)
            await publish_many(session, events)
    return report
