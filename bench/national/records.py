"""The nation into the records service's database: its directory copy, movements between
practices over two years in every status, incidents and harm reviews.

Movements are made in worker processes, ``CHUNK`` at a time, each chunk with a generator of
its own (so the data do not depend on the number of workers), and copied in order.
"""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta
from functools import cache
from typing import TYPE_CHECKING, Any

from nhs_number.validate import calculate_checksum, is_valid
from pcse_kit import dates
from records.timers import Targets, add_months, add_working_days

from bench.national import continue_ids, pool_of, practice_rng

if TYPE_CHECKING:
    import asyncpg

    from bench.national import Nation

CHUNK = 100_000
PATIENTS = 200_000
TARGETS = Targets()
Directory = tuple[tuple[str, str, tuple[str, ...]], ...]
"""(ODS code, LMC code, branch sites) of every open practice."""

# status: (weight, ages in days requested ago)
STATUSES: dict[str, tuple[float, tuple[int, int]]] = {
    "delivered": (0.80, (30, 730)),
    "cancelled": (0.03, (10, 730)),
    "no_paper_record": (0.03, (5, 730)),
    "in_central_storage": (0.02, (60, 730)),
    "lost": (0.003, (200, 730)),
    "missing": (0.007, (20, 400)),
    "requested": (0.04, (0, 90)),
    "in_progress": (0.025, (5, 90)),
    "ready_for_collection": (0.02, (10, 90)),
    "collected": (0.025, (15, 120)),
}
MOVEMENT_COLUMNS = [
    "id", "movement_number", "label_number", "nhs_number", "sender_place", "sender_ods_code",
    "sender_site_code", "receiver_place", "receiver_ods_code", "receiver_site_code", "reason",
    "urgency", "status", "requested_at", "status_changed_at", "deducted_on", "label_issued_on",
    "collected_at", "delivered_at", "received_at", "gp2gp_started_on", "gp2gp_integrated_on",
    "search_started_on", "label_due_on", "delivery_due_on", "gp2gp_due_on", "urgent_due_on",
    "search_due_on", "lost_due_on",
]  # fmt: skip


def directory(nation: Nation) -> Directory:
    return tuple(
        (p.ods_code, p.lmc_code, p.sites) for p in nation.practices if p.status == "active"
    )


@cache
def working_days_after(start: date, days: int) -> date:
    return add_working_days(start, days)


@cache
def nhs_numbers(seed: int, count: int) -> list[str]:
    """Valid NHS numbers in the 999 range, which the NHS never issues to a patient."""
    rng = random.Random(f"{seed}:patients")
    numbers: set[str] = set()
    while len(numbers) < count:
        stem = f"999{rng.randint(0, 999_999):06d}"
        number = f"{stem}{calculate_checksum(stem)}"
        if is_valid(number):
            numbers.add(number)
    return sorted(numbers)


def noon(as_of: date) -> datetime:
    return datetime.combine(as_of, datetime.min.time(), UTC) + timedelta(hours=12)


def movement_rows(
    seed: int, as_of: date, first_id: int, count: int, practices: Directory
) -> list[tuple[Any, ...]]:
    """Movements ``first_id`` to ``first_id + count - 1`` (run in a worker process)."""
    rng = practice_rng(seed, f"movements:{first_id}")
    now, today = noon(as_of), as_of
    numbers = nhs_numbers(seed, min(PATIENTS, max(count, 1_000)))
    statuses = list(STATUSES)
    weights = [STATUSES[s][0] for s in statuses]
    rows = []
    for offset, status in enumerate(rng.choices(statuses, weights, k=count)):
        movement_id = first_id + offset
        low, high = STATUSES[status][1]
        requested_at = now - timedelta(days=rng.uniform(low, high))
        requested = dates.local_date(requested_at)
        sender, receiver = rng.sample(practices, 2)
        ends: list[Any] = ["practice", sender[0], None, "practice", receiver[0], None]
        roll = rng.random()
        if roll < 0.03:
            ends[3:] = ["central_storage", None, None]
        elif roll < 0.04:
            ends[3:] = [rng.choice(("wales", "scotland", "northern_ireland")), None, None]
        if sender[2] and rng.random() < 0.3:
            ends[2] = rng.choice(sender[2])
        if ends[4] and receiver[2] and rng.random() < 0.3:
            ends[5] = rng.choice(receiver[2])
        reason = rng.choices(
            ("registration_elsewhere", "emigration", "death", "request"), (80, 5, 5, 10)
        )[0]
        urgent = reason == "request" and rng.random() < 0.4
        deducted = requested if reason != "request" else None
        labelled = status not in {"requested", "cancelled", "no_paper_record"}
        label_on = min(today, requested + timedelta(days=18)) if labelled and deducted else None
        moved = status in {"collected", "delivered", "in_central_storage", "lost", "missing"}
        collected_at = requested_at + timedelta(days=min(25, low - 1)) if moved else None
        delivered_at = min(now, collected_at + timedelta(days=rng.randint(2, 14))) if (
            status == "delivered" and collected_at is not None
        ) else None  # fmt: skip
        changed_at = delivered_at or collected_at or requested_at + timedelta(days=low / 2)
        gp2gp = requested if status == "no_paper_record" else None
        integrated = (
            gp2gp + timedelta(days=rng.randint(1, 12)) if gp2gp and rng.random() < 0.8 else None
        )
        search = (
            requested + timedelta(days=20)
            if status == "requested" and (today - requested).days > 25 and rng.random() < 0.3
            else None
        )
        collected_on = None if collected_at is None else dates.local_date(collected_at)
        rows.append(
            (
                movement_id, f"MN{movement_id:010d}", f"PCS{movement_id:08d}" if label_on else None,
                numbers[movement_id % len(numbers)], *ends, reason,
                "urgent" if urgent else "routine", status, requested_at, changed_at, deducted,
                label_on, collected_at, delivered_at, delivered_at, gp2gp, integrated, search,
                working_days_after(deducted, TARGETS.label_working_days) if deducted else None,
                working_days_after(collected_on, TARGETS.delivery_working_days)
                if collected_on else None,
                gp2gp + timedelta(days=TARGETS.gp2gp_days) if gp2gp else None,
                working_days_after(requested, TARGETS.urgent_working_days) if urgent else None,
                working_days_after(search, TARGETS.search_working_days) if search else None,
                add_months(dates.local_date(changed_at), TARGETS.lost_after_months)
                if status == "missing" else None,
            )
        )  # fmt: skip
    return rows


async def load(
    connection: asyncpg.Connection[Any], nation: Nation, *, workers: int
) -> dict[str, int]:
    """The directory copy, the movements, and the incidents they lead to; rows per table."""
    practices = directory(nation)
    await connection.copy_records_to_table(
        "practice_directory",
        records=[(p.ods_code, p.lmc_code, p.name) for p in nation.practices],
        columns=["ods_code", "lmc_code", "name"],
    )
    total = nation.size.movements
    archived: list[tuple[int, str, str]] = []
    with pool_of(workers) as pool:
        pending = [
            pool(
                movement_rows,
                nation.seed,
                nation.as_of,
                first,
                min(CHUNK, total + 1 - first),
                practices,
            )
            for first in range(1, total + 1, CHUNK)
        ]
        for future in pending:
            chunk = await future
            await connection.copy_records_to_table(
                "movement", records=chunk, columns=MOVEMENT_COLUMNS
            )
            archived.extend(
                (row[0], row[8], row[3])
                for row in chunk
                if row[12] == "in_central_storage" and row[8]
            )
            print(f"    records: {chunk[-1][0]:>10,} movements", flush=True)
    incidents, reviews = await load_incidents(connection, archived, nation)
    await continue_ids(connection, "movement")
    return {"movement": total, "incident": incidents, "harm_review": reviews}


async def load_incidents(
    connection: asyncpg.Connection[Any], archived: list[tuple[int, str, str]], nation: Nation
) -> tuple[int, int]:
    """Every record in storage for a registered patient is an erroneous-archiving incident,
    with its harm review (most done)."""
    rng = random.Random(f"{nation.seed}:incidents")
    now = noon(nation.as_of)
    incidents: list[tuple[Any, ...]] = []
    reviews: list[tuple[Any, ...]] = []
    patients: set[tuple[str, str]] = set()
    for movement_id, ods_code, nhs in archived:
        incident_id = len(incidents) + 1
        incidents.append(
            (incident_id, f"INC-N{incident_id:09d}", "erroneous_archiving", movement_id,
             ods_code, now, "national-data-set", "In storage.", None)
        )  # fmt: skip
        if (ods_code, nhs) not in patients:
            patients.add((ods_code, nhs))
            outcome = rng.choice(("no_harm", "no_harm", "harm", "needs_follow_up", None))
            reviewer, reviewed = ("Dr Review", nation.as_of) if outcome else (None, None)
            reviews.append((incident_id, movement_id, ods_code, nhs, outcome, reviewer, reviewed))
    await connection.copy_records_to_table(
        "incident",
        records=incidents,
        columns=["id", "reference", "kind", "movement_id", "ods_code", "reported_at",
                 "reported_by", "detail", "found_nhs_number"],
    )  # fmt: skip
    await connection.copy_records_to_table(
        "harm_review",
        records=reviews,
        columns=["incident_id", "movement_id", "ods_code", "nhs_number", "outcome", "reviewer",
                 "reviewed_on"],
    )  # fmt: skip
    await continue_ids(connection, "incident")
    return len(incidents), len(reviews)
