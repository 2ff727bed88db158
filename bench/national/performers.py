"""The nation into the performers service's database: the directory and the list."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from bench.national import continue_ids, quarterly_list, quarters_before

if TYPE_CHECKING:
    import asyncpg

    from bench.national import MembershipSpec, Nation, PerformerSpec

NOT_INCLUDED_FIRST = {"deferred", "refused"}
OPEN_KINDS = ("inclusion", "status_change", "cct", "retirement", "leaving", "joining")
# The GP Register opened on 31 March 2006; a GP who qualified before CCTs (2005) has no CCT.
GP_REGISTER_OPENED = date(2006, 3, 31)
CCTS_FROM = date(2005, 1, 1)
QUARTERS = 4


def _history(performer: PerformerSpec, ended: date | None, *, today: date) -> list[tuple[Any, ...]]:
    """(gmc, from, to, effective, decision): how the performer reached today's status."""
    gmc, listed = performer.gmc_number, performer.listed_on
    rows: list[tuple[Any, ...]] = [
        (gmc, None, "pending", listed - timedelta(days=21), "Application received")
    ]
    if performer.status in NOT_INCLUDED_FIRST:
        rows.append((gmc, "pending", performer.status, listed, "Decision on the application"))
        return rows
    rows.append((gmc, "pending", "included", listed, "Included on the list"))
    if performer.status != "included":
        later = ended or listed + timedelta(days=performer.listed_on.toordinal() % 900 + 30)
        later = min(later, today)
        rows.append((gmc, "included", performer.status, later, "Decision of the panel"))
    return rows


async def load(connection: asyncpg.Connection[Any], nation: Nation) -> dict[str, int]:
    """Everything the performers service holds, by COPY; returns rows per table."""
    rng = random.Random(f"{nation.seed}:performers")
    as_of = nation.as_of
    counts: dict[str, int] = {}

    async def copy(table: str, columns: list[str], records: list[tuple[Any, ...]]) -> None:
        await connection.copy_records_to_table(table, records=records, columns=columns)
        counts[table] = len(records)

    await copy("lmc", ["code", "name"], [(lmc.code, lmc.name) for lmc in nation.lmcs])
    await copy(
        "lmc_icb",
        ["lmc_code", "icb_code"],
        [(lmc.code, icb) for lmc in nation.lmcs for icb in lmc.icb_codes],
    )
    await copy(
        "practice",
        ["ods_code", "name", "postcode", "icb_code", "sub_icb_code", "lmc_code", "contract_type",
         "list_size", "address", "status", "opened_on", "closed_on", "dispensing",
         "training_practice", "out_of_hours_opt_out"],
        [
            (p.ods_code, p.name, p.postcode, p.icb_code, p.sub_icb_code, p.lmc_code,
             p.contract_type, p.list_size, f"{p.index % 200 + 1} High Street", p.status,
             date(1948 + p.index % 70, 7, 5),
             as_of - timedelta(days=30 + p.index % 700) if p.status == "closed" else None,
             p.dispensing, p.training_practice, p.out_of_hours_opt_out)
            for p in nation.practices
        ],
    )  # fmt: skip
    await copy(
        "practice_list_size",
        ["ods_code", "quarter_start", "registered_patients", "weighted_patients", "source"],
        _list_sizes(nation),
    )
    await copy(
        "branch_site",
        ["site_code", "ods_code", "name", "postcode"],
        [
            (site, p.ods_code, f"{p.name}, branch {site[-1]}", p.postcode)
            for p in nation.practices
            for site in p.sites
        ],
    )
    await copy(
        "performer",
        ["gmc_number", "given_name", "family_name", "status", "date_of_birth", "cct_date",
         "under_training_supervision", "gmc_registered_on", "gp_register_on",
         "training_programme_start"],
        [_performer_row(p) for p in nation.performers],
    )  # fmt: skip
    await copy(
        "membership",
        ["id", "gmc_number", "ods_code", "role", "start_date", "end_date"],
        [
            (m.id, m.gmc_number, m.ods_code, m.role, m.start_date, m.end_date)
            for m in nation.memberships
        ],
    )
    ended = {m.gmc_number: m.end_date for m in nation.memberships if m.end_date}
    recorded = datetime.combine(as_of, datetime.min.time(), UTC)
    await copy(
        "status_change",
        ["gmc_number", "from_status", "to_status", "effective_date", "decision", "source",
         "recorded_at", "recorded_by"],
        [
            (*row, "National Performers List", recorded, "national-data-set")
            for performer in nation.performers
            for row in _history(performer, ended.get(performer.gmc_number), today=as_of)
        ],
    )  # fmt: skip
    await copy(
        "change_request",
        ["reference", "kind", "gmc_number", "ods_code", "requested_status", "submitted_on",
         "decided_on", "outcome", "complete_on", "role", "effective_on"],
        _change_requests(nation, rng),
    )  # fmt: skip
    await continue_ids(connection, "membership", "status_change", "change_request")
    return counts


def _change_requests(nation: Nation, rng: random.Random) -> list[tuple[Any, ...]]:
    """Joining and leaving requests, decided in two to sixteen weeks, and a few still open:
    some past twelve weeks, some past sixteen."""
    as_of = nation.as_of
    rows: list[tuple[Any, ...]] = []

    def add(
        kind: str, m: MembershipSpec, submitted: date, *, open_: bool, effective: date | None
    ) -> None:
        decided = None if open_ else min(as_of, submitted + timedelta(days=rng.randint(14, 115)))
        rows.append(
            (f"CR-N{len(rows) + 1:09d}", kind, m.gmc_number, m.ods_code,
             "removed" if kind == "status_change" else None, submitted, decided,
             None if open_ else rng.choices(("approved", "rejected", "withdrawn"), (92, 3, 5))[0],
             submitted, m.role if kind == "joining" else None,
             effective if kind in {"joining", "leaving", "cct"} else None)
        )  # fmt: skip

    horizon = as_of - timedelta(days=365 * 5)
    for m in nation.memberships:
        if m.start_date > horizon and rng.random() < 0.8:
            add(
                "joining", m, m.start_date - timedelta(days=30), open_=False, effective=m.start_date
            )
        if m.end_date is not None:
            add("leaving", m, m.end_date - timedelta(days=20), open_=False, effective=m.end_date)
        elif rng.random() < 0.04:
            submitted = as_of - timedelta(days=int(rng.triangular(0, 200, 40)))
            add(rng.choice(OPEN_KINDS), m, submitted, open_=True, effective=as_of)
    return rows


def _performer_row(p: PerformerSpec) -> tuple[Any, ...]:
    """The GMC registers: first registration at 24; a registrar's programme began when listed;
    everyone else on the GP Register from the CCT, or from its opening for those who
    qualified before CCTs."""
    registered = date(p.date_of_birth.year + 24, 8, 1)
    if p.under_training_supervision or p.cct_date is None:
        return (p.gmc_number, p.given_name, p.family_name, p.status, p.date_of_birth,
                p.cct_date, p.under_training_supervision, registered, None,
                p.listed_on if p.under_training_supervision else None)  # fmt: skip
    before_ccts = p.cct_date < CCTS_FROM
    return (p.gmc_number, p.given_name, p.family_name, p.status, p.date_of_birth,
            None if before_ccts else p.cct_date, False, registered,
            max(GP_REGISTER_OPENED, p.cct_date) if before_ccts else p.cct_date, None)  # fmt: skip


def _list_sizes(nation: Nation) -> list[tuple[Any, ...]]:
    """The last four quarters of each open practice's registered and weighted list."""
    quarters = quarters_before(nation.as_of, QUARTERS)
    rows: list[tuple[Any, ...]] = []
    for p in nation.practices:
        if p.status == "closed":
            continue
        for quarter in quarters:
            registered, weighted = quarterly_list(p.index, p.list_size, quarter, as_of=nation.as_of)
            rows.append((p.ods_code, quarter, registered, weighted, "national data set"))
    return rows
