"""The nation into the records service's database: a year of patients moving, their
registrations and deductions, the record movements those lead to, and a few of each failure
the service finds from them.

About six million movements a year (PCSE's contractor put it at "more than six million moved
each year" in 2019): most between practices in the same ICB; deaths and emigrations to central
storage; a few to the other UK nations; some requests. Each patient is a chain over the year:
registered at one practice, then at the next, each move a deduction (transfer) at the old
practice and a registration at the new on the same day, and the record's movement between them,
its status what its age makes likely. The NHS numbers come from the test range (999 000 0000 to
999 999 9999, about 909,000 valid ones), so a national year gives each patient several moves.

Planted, a few in a thousand patients, and recorded in :class:`Planted`: a record archived
instead of delivered (erroneous archiving), a registration with no record on its way (record
not received), a deduction nothing explains (incorrect removal). Everything else keeps the rules,
so that the service's own detection finds exactly what was planted. Incidents practices report
by hand (an incomplete record, a wrong label, an empty envelope) are spread over the year for
the LMC trends.

Patients are made in worker processes, ``CHUNK`` at a time, each chunk with a generator of its
own (so the data do not depend on the number of workers), and copied in order. A patient's
movements take ids from a block of its own (``SLOTS`` per patient).
"""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import cache
from typing import TYPE_CHECKING, Any

from nhs_number.validate import is_valid
from records.registrations import fp69_deduction_due
from records.timers import Targets, add_months, add_working_days, last_working_day_of_week_after

from bench.national import continue_ids, pool_of, practice_rng

if TYPE_CHECKING:
    import asyncpg

    from bench.national import Nation

CHUNK = 20_000
"""Patients per worker task."""
SLOTS = 16
"""Movement ids per patient: its moves and requests, never more."""
MAX_MOVES = 12
MOVES_SCALE = 1.19
"""Measured: each patient's mean of moves asked gives about 5/6 of it in movements."""
TARGETS = Targets()
LOCAL = 0.75
"""Of moves between practices, the share within the same ICB."""
# How a patient's year ends, its last move made one of these: (share, kind). Deaths and
# emigrations are shares of all movements (each patient stands for several moves a year, so
# the share of patients whose chain ends so is this times the moves per patient): about
# 545,000 deaths a year in England (ONS: 581,363 registered in England and Wales in 2023,
# Wales about 36,000 of them) against about six million movements is 9%; emigrations that
# reach the practice (a deduction) are taken as a fifth of deaths, an assumption: no source
# counts them. The rest are shares of patients.
DEATHS_PER_MOVEMENT = 0.09
EMIGRATIONS_PER_MOVEMENT = 0.018
ENDINGS = (
    (0.015, "other_nation"),
    (0.010, "fp69"),
    (0.005, "removal"),
)
PLANT_RATE = 0.002
"""Of patients, the share given each planted failure (at least PLANT_MINIMUM each)."""
PLANT_MINIMUM = 4
REQUEST_RATE = 0.05
NEW_REGISTRATION_RATE = 0.08
Directory = tuple[tuple[str, str, str, tuple[str, ...], int], ...]
"""(ODS code, LMC, ICB, branch sites, list size) of each active practice."""

MOVEMENT_COLUMNS = [
    "id", "movement_number", "label_number", "nhs_number", "sender_place", "sender_ods_code",
    "sender_site_code", "receiver_place", "receiver_ods_code", "receiver_site_code", "reason",
    "urgency", "status", "requested_at", "status_changed_at", "deducted_on", "label_issued_on",
    "collected_at", "delivered_at", "received_at", "gp2gp_started_on", "gp2gp_integrated_on",
    "search_started_on", "ready_at", "printout_attested", "nhs_number_to_sender_only",
    "label_due_on", "delivery_due_on", "gp2gp_due_on", "urgent_due_on", "request_due_on",
    "collection_due_on", "search_due_on", "lost_due_on",
]  # fmt: skip
REGISTRATION_COLUMNS = [
    "ods_code", "nhs_number", "event", "effective_on", "reason", "removal_requested_on",
    "fp69_flagged_on", "under_18", "recorded_by",
]  # fmt: skip
INCIDENT_COLUMNS = [
    "id", "reference", "kind", "movement_id", "ods_code", "reported_at", "reported_by", "detail",
    "status",
]  # fmt: skip
LOADER = "national-data-set"


@dataclass
class Planted:
    """What was planted, as (practice, NHS number): the failures detection must find."""

    erroneous_archiving: list[tuple[str, str]] = field(default_factory=list)
    record_not_received: list[tuple[str, str]] = field(default_factory=list)
    incorrect_removal: list[tuple[str, str]] = field(default_factory=list)

    def extend(self, other: Planted) -> None:
        self.erroneous_archiving += other.erroneous_archiving
        self.record_not_received += other.record_not_received
        self.incorrect_removal += other.incorrect_removal

    @property
    def counts(self) -> dict[str, int]:
        return {
            "erroneous_archiving": len(self.erroneous_archiving),
            "record_not_received": len(self.record_not_received),
            "incorrect_removal": len(self.incorrect_removal),
        }

    @property
    def found(self) -> set[tuple[str, str, str]]:
        """(kind, practice, NHS number) of everything planted."""
        return {
            (kind, ods, nhs)
            for kind, rows in (
                ("erroneous_archiving", self.erroneous_archiving),
                ("record_not_received", self.record_not_received),
                ("incorrect_removal", self.incorrect_removal),
            )
            for ods, nhs in rows
        }

    @property
    def patients(self) -> list[str]:
        return sorted({nhs for _, _, nhs in self.found})


@dataclass
class Chunk:
    movements: list[tuple[Any, ...]] = field(default_factory=list)
    registrations: list[tuple[Any, ...]] = field(default_factory=list)
    incidents: list[tuple[Any, ...]] = field(default_factory=list)
    """Reported by hand, without their id (given when they are copied)."""
    planted: Planted = field(default_factory=Planted)


def directory(nation: Nation) -> Directory:
    return tuple(
        (p.ods_code, p.lmc_code, p.icb_code, p.sites, p.list_size)
        for p in nation.practices
        if p.status == "active"
    )


@cache
def nhs_numbers(seed: int) -> list[str]:
    """Every valid NHS number in the test range, which the NHS never issues to a patient, in an
    order of the seed's.

    The modulus-11 check digit, worked out here for a million stems at once: the weights 10 to
    2 on the nine digits; 999 weighs 9x10 + 9x8 + 9x9 = 243; a check of 10 is no number, 11 is
    0. (``nhs_number`` takes a minute over a million; a sample is checked against it.)"""
    numbers = []
    for a, b, c, d, e in itertools.product(range(10), repeat=5):
        partial = 243 + 7 * a + 6 * b + 5 * c + 4 * d + 3 * e
        stem = f"999{a}{b}{c}{d}{e}"
        for f in range(10):
            check = 11 - (partial + 2 * f) % 11
            if check != 10:
                numbers.append(f"{stem}{f}{check % 11}")
    for number in numbers[:: len(numbers) // 50]:
        assert is_valid(number), number
    random.Random(f"{seed}:patients").shuffle(numbers)
    return numbers


@cache
def _working_days_after(start: date, days: int) -> date:
    return add_working_days(start, days)


@cache
def _collection_due(ready: date) -> date:
    return last_working_day_of_week_after(ready, TARGETS.collection_weeks)


def _dues(
    *,
    on: date,
    deduction: bool,
    urgent: bool,
    collected: date | None,
    ready: date | None,
    gp2gp: date | None,
    missing_since: date | None,
) -> tuple[date | None, ...]:
    """(label, delivery, gp2gp, urgent, request, collection, search, lost) due dates, as the
    service's ``timers.due_dates`` sets them, from cached working-day sums: a year of movements
    asks for the same few hundred."""
    after = _working_days_after
    return (
        after(on, TARGETS.label_working_days) if deduction else None,
        after(collected, TARGETS.delivery_working_days) if collected else None,
        gp2gp + timedelta(days=TARGETS.gp2gp_days) if gp2gp else None,
        after(on, TARGETS.urgent_working_days) if urgent else None,
        after(on, TARGETS.routine_request_working_days) if not deduction and not urgent else None,
        _collection_due(ready) if ready else None,
        None,
        add_months(missing_since, TARGETS.lost_after_months) if missing_since else None,
    )


def patient_count(nation: Nation) -> int:
    return min(len(nhs_numbers(nation.seed)), max(1_000, nation.size.movements // 3))


def noon(as_of: date) -> datetime:
    return datetime.combine(as_of, datetime.min.time(), UTC) + timedelta(hours=12)


@dataclass(frozen=True)
class _Areas:
    """Practices by ICB, and cumulative list sizes for drawing a practice in proportion to
    its list: registrations and deductions (list turnover) grow with the list."""

    by_icb: dict[str, tuple[int, ...]]
    icb_weights: dict[str, list[int]]
    weights: list[int]


@cache
def _areas(practices: Directory) -> _Areas:
    found: dict[str, list[int]] = {}
    for index, (_, _, icb, _, _) in enumerate(practices):
        found.setdefault(icb, []).append(index)
    by_icb = {icb: tuple(indices) for icb, indices in found.items()}
    return _Areas(
        by_icb=by_icb,
        icb_weights={
            icb: list(itertools.accumulate(practices[i][4] for i in indices))
            for icb, indices in by_icb.items()
        },
        weights=list(itertools.accumulate(p[4] for p in practices)),
    )


class _Maker:
    """One chunk of patients, each a chain of moves over the year before ``as_of``."""

    def __init__(self, seed: int, as_of: date, practices: Directory, moves_mean: float) -> None:
        self.as_of = as_of
        self.now = noon(as_of)
        self.practices = practices
        self.areas = _areas(practices)
        self.moves_mean = moves_mean
        per_patient = moves_mean / MOVES_SCALE
        self.endings = (
            (min(0.6, DEATHS_PER_MOVEMENT * per_patient), "death"),
            (min(0.15, EMIGRATIONS_PER_MOVEMENT * per_patient), "emigration"),
            *ENDINGS,
        )
        self.chunk = Chunk()
        self.seed = seed
        self.seen: set[tuple[str, str, str, date]] = set()

    def at(self, days_ago: float) -> datetime:
        return self.now - timedelta(days=days_ago)

    def any_practice(self, rng: random.Random) -> int:
        """A practice drawn in proportion to its list."""
        return rng.choices(range(len(self.practices)), cum_weights=self.areas.weights)[0]

    def next_practice(self, rng: random.Random, current: int, avoid: set[int]) -> int:
        icb = self.practices[current][2]
        for _ in range(20):
            if rng.random() < LOCAL:
                choice = rng.choices(
                    self.areas.by_icb[icb], cum_weights=self.areas.icb_weights[icb]
                )[0]
            else:
                choice = self.any_practice(rng)
            if choice != current and choice not in avoid:
                return choice
        return (current + 1) % len(self.practices)

    def register(self, ods: str, nhs: str, on: date, event: str, reason: str, **extra: Any) -> None:
        # A fact is kept once, as the service keeps it.
        if (ods, nhs, event, on) in self.seen:
            return
        self.seen.add((ods, nhs, event, on))
        self.chunk.registrations.append(
            (ods, nhs, event, on, reason, extra.get("requested"), extra.get("flagged"),
             extra.get("under_18"), LOADER)
        )  # fmt: skip

    def patient(self, index: int, nhs: str) -> None:  # noqa: PLR0911, PLR0912, PLR0915 - one chain, told in order
        rng = practice_rng(self.seed, f"patient:{index}")
        plant = rng.random()
        kind = (
            "erroneous_archiving" if plant < PLANT_RATE
            else "record_not_received" if plant < 2 * PLANT_RATE
            else "incorrect_removal" if plant < 3 * PLANT_RATE
            else None
        )  # fmt: skip
        if index < PLANT_MINIMUM * 3:
            kind = ("erroneous_archiving", "record_not_received", "incorrect_removal")[index % 3]
        moves = min(MAX_MOVES, max(1, round(rng.expovariate(1 / self.moves_mean))))
        times = sorted((rng.uniform(0, 365) for _ in range(moves)), reverse=True)
        if kind in {"erroneous_archiving", "record_not_received"}:
            # The last move well past six weeks, so that its failure shows.
            times[-1] = max(times[-1], rng.uniform(60, 120))
        # Days ago, oldest first, a day apart at least: no patient moves twice in a day.
        for i in range(len(times) - 2, -1, -1):
            times[i] = max(times[i], times[i + 1] + 1.0)
        times = [t for t in times if t <= 365]
        if not times:
            return
        current = self.any_practice(rng)
        visited = {current}
        slot = 0
        if rng.random() < NEW_REGISTRATION_RATE:
            first = times[0] + rng.uniform(1, 30)
            if first < 365:
                self.register(self.practices[current][0], nhs, self.at(first).date(),
                              "registered", "new_registration")  # fmt: skip
        for move, days_ago in enumerate(times):
            last = move == len(times) - 1
            requested_at = self.at(days_ago)
            on = requested_at.date()
            here = self.practices[current][0]
            if last and kind == "incorrect_removal":
                # Deducted for no reason the practice's system names: nothing behind it.
                self.register(here, nhs, on, "deducted", "other")
                self.chunk.planted.incorrect_removal.append((here, nhs))
                return
            ending = _ending(rng, self.endings) if last and kind is None else None
            if ending in {"death", "emigration"}:
                self.movement(index, slot, rng, nhs, (here, current), None, "central_storage",
                              requested_at, ending)  # fmt: skip
                self.register(here, nhs, on, "deducted", ending)
                return
            if ending == "other_nation":
                nation = rng.choice(("wales", "scotland", "northern_ireland"))
                self.movement(index, slot, rng, nhs, (here, current), None, nation, requested_at,
                              "registration_elsewhere")  # fmt: skip
                self.register(here, nhs, on, "deducted", "transfer")
                return
            if ending == "fp69":
                flagged = on - timedelta(days=rng.randint(100, 200))
                on = max(on, fp69_deduction_due(flagged))
                if on <= self.as_of:
                    self.register(here, nhs, on, "deducted", "fp69", flagged=flagged,
                                  under_18=False)  # fmt: skip
                return
            if ending == "removal":
                self.register(here, nhs, on, "deducted", "removal",
                              requested=on - timedelta(days=8))  # fmt: skip
                return
            avoid = visited if kind == "record_not_received" and last else set()
            target = self.next_practice(rng, current, avoid)
            there = self.practices[target][0]
            self.register(here, nhs, on, "deducted", "transfer")
            self.register(there, nhs, on, "registered", "transfer")
            if last and kind == "record_not_received":
                # Registered, and no movement of the record at all.
                self.chunk.planted.record_not_received.append((there, nhs))
                return
            archived = last and kind == "erroneous_archiving"
            self.movement(index, slot, rng, nhs, (here, current), (there, target), "practice",
                          requested_at, "registration_elsewhere", archived=archived)  # fmt: skip
            if archived:
                self.chunk.planted.erroneous_archiving.append((there, nhs))
                return
            slot += 1
            visited.add(target)
            # A request takes a slot only if the moves still to come keep theirs.
            if kind is None and rng.random() < REQUEST_RATE and slot + len(times) - move <= SLOTS:
                # A request for the record's notes from a practice the patient was at.
                self.request(index, slot, rng, nhs, (here, current), (there, target), days_ago)
                slot += 1
            current = target

    def movement(  # noqa: PLR0917 - one movement's every fact
        self,
        index: int,
        slot: int,
        rng: random.Random,
        nhs: str,
        sender: tuple[str, int],
        receiver: tuple[str, int] | None,
        place: str,
        requested_at: datetime,
        reason: str,
        *,
        archived: bool = False,
        urgent: bool = False,
    ) -> None:
        assert slot < SLOTS, (index, slot)
        movement_id = index * SLOTS + slot + 1
        age = (self.now - requested_at).total_seconds() / 86_400
        deduction = reason != "request"
        on = requested_at.date()
        facts = _progress(rng, age, requested_at, self.now, deduction=deduction,
                          to_practice=place == "practice", cross_border=place in {
                              "wales", "scotland", "northern_ireland"},
                          archived=archived, request=not deduction)  # fmt: skip
        sender_sites = self.practices[sender[1]][3]
        receiver_sites = () if receiver is None else self.practices[receiver[1]][3]
        dues = _dues(
            on=on,
            deduction=deduction,
            urgent=urgent,
            collected=_day(facts["collected_at"]),
            ready=_day(facts["ready_at"]) if facts["status"] == "ready_for_collection" else None,
            gp2gp=facts["gp2gp_started_on"],
            missing_since=_day(facts["changed_at"]) if facts["status"] == "missing" else None,
        )
        self.chunk.movements.append(
            (
                movement_id, f"MN{movement_id:010d}",
                f"PCS{movement_id:08d}" if facts["label_on"] else None, nhs,
                "practice", sender[0],
                rng.choice(sender_sites) if sender_sites and rng.random() < 0.3 else None,
                place, None if receiver is None else receiver[0],
                rng.choice(receiver_sites) if receiver_sites and rng.random() < 0.3 else None,
                reason, "urgent" if urgent else "routine", facts["status"], requested_at,
                facts["changed_at"], on if deduction else None, facts["label_on"],
                facts["collected_at"], facts["delivered_at"], facts["received_at"],
                facts["gp2gp_started_on"], facts["gp2gp_integrated_on"], None, facts["ready_at"],
                facts["printout"], False, *dues,
            )
        )  # fmt: skip
        self._reported(
            rng, movement_id, facts, sender[0], None if receiver is None else receiver[0]
        )

    def request(  # noqa: PLR0917 - as movement()
        self,
        index: int,
        slot: int,
        rng: random.Random,
        nhs: str,
        sender: tuple[str, int],
        receiver: tuple[str, int],
        days_ago: float,
    ) -> None:
        requested_at = self.at(max(0.0, days_ago - rng.uniform(1, 20)))
        self.movement(index, slot, rng, nhs, sender, receiver, "practice", requested_at,
                      "request", urgent=rng.random() < 0.4)  # fmt: skip

    def _reported(
        self,
        rng: random.Random,
        movement_id: int,
        facts: dict[str, Any],
        sender: str,
        receiver: str | None,
    ) -> None:
        """The incidents practices report by hand, a few in a thousand movements."""
        kind = None
        bearer: str | None = receiver
        if facts["status"] == "in_storage_at_practice" and rng.random() < 0.003:
            kind = "incomplete_record"
        elif facts["printout"] is False and facts["collected_at"] is not None:
            kind, bearer = "empty_envelope", sender
        elif (
            facts["label_on"] is not None and facts["collected_at"] is None and rng.random() < 0.01
        ):
            kind, bearer = "label_wrong", sender
        if kind is None or bearer is None:
            return
        reported = facts["collected_at"] or facts["changed_at"]
        self.chunk.incidents.append(
            (None, kind, movement_id, bearer, reported + timedelta(hours=3), LOADER,
             "Reported by the practice.", "open")
        )  # fmt: skip


def _ending(rng: random.Random, endings: tuple[tuple[float, str], ...]) -> str | None:
    roll = rng.random()
    for weight, kind in endings:
        if roll < weight:
            return kind
        roll -= weight
    return None


def _day(value: datetime | None) -> date | None:
    # The UTC date: for data laid out around noon, England's.
    return None if value is None else value.date()


def _progress(  # noqa: PLR0912, PLR0915 - the facts a status depends on
    rng: random.Random,
    age: float,
    requested_at: datetime,
    now: datetime,
    *,
    deduction: bool,
    to_practice: bool,
    cross_border: bool,
    archived: bool,
    request: bool,
) -> dict[str, Any]:
    """How far a movement of this age has got, with the times of each step."""
    facts: dict[str, Any] = dict.fromkeys(
        ("label_on", "ready_at", "collected_at", "delivered_at", "received_at",
         "gp2gp_started_on", "gp2gp_integrated_on", "printout"),
    )  # fmt: skip
    if cross_border:
        facts["printout"] = rng.random() > 0.02
    label_after = rng.uniform(5, 20) if deduction else rng.uniform(1, 5)
    ready_after = label_after + rng.uniform(1, 6)
    collect_after = ready_after + rng.uniform(1, 6)
    deliver_after = collect_after + rng.uniform(1, 9)

    def when(days: float) -> datetime:
        return min(now - timedelta(hours=1), requested_at + timedelta(days=days))

    status = "requested"
    if request and age > 10 and rng.random() < 0.03:
        status = "cancelled"
    elif archived:
        status = "in_central_storage"
        facts["label_on"] = _day(when(label_after))
        facts["ready_at"] = when(ready_after)
        facts["collected_at"] = when(collect_after)
    elif to_practice and deduction and age > 20 and rng.random() < 0.03:
        # No paper record: GP2GP alone, almost always integrated in time.
        status = "no_paper_record"
        facts["gp2gp_started_on"] = _day(requested_at)
        if rng.random() < 0.97:
            facts["gp2gp_integrated_on"] = _day(when(rng.uniform(1, 8)))
    elif age >= deliver_after:
        roll = rng.random()
        facts["label_on"] = _day(when(label_after))
        facts["ready_at"] = when(ready_after)
        facts["collected_at"] = when(collect_after)
        if roll < 0.007 and age > 30:
            status = "lost" if age > 200 and roll < 0.003 else "missing"
        else:
            facts["delivered_at"] = when(deliver_after)
            status = "delivered"
            if to_practice and roll < 0.6:
                status = "in_storage_at_practice"
                facts["received_at"] = facts["delivered_at"]
    elif age >= collect_after:
        status = "collected"
        facts["label_on"] = _day(when(label_after))
        facts["ready_at"] = when(ready_after)
        facts["collected_at"] = when(collect_after)
    elif age >= ready_after:
        status = "ready_for_collection"
        facts["label_on"] = _day(when(label_after))
        facts["ready_at"] = when(ready_after)
    elif age >= label_after:
        status = "in_progress"
        facts["label_on"] = _day(when(label_after))
    changed = (
        facts["received_at"] or facts["delivered_at"] or facts["collected_at"] or
        facts["ready_at"] or requested_at
    )  # fmt: skip
    if status in {"missing", "lost", "in_central_storage"}:
        changed = facts["collected_at"] + timedelta(days=rng.uniform(3, 20))
        changed = min(changed, now - timedelta(hours=1))
    if status == "cancelled":
        changed = requested_at + timedelta(days=rng.uniform(1, 10))
    facts["status"] = status
    facts["changed_at"] = changed
    return facts


def patient_rows(  # noqa: PLR0917 - run through a process pool, positionally
    seed: int, as_of: date, first: int, count: int, practices: Directory, moves_mean: float
) -> Chunk:
    """Patients ``first`` to ``first + count - 1`` (run in a worker process)."""
    maker = _Maker(seed, as_of, practices, moves_mean)
    numbers = nhs_numbers(seed)
    for index in range(first, first + count):
        maker.patient(index, numbers[index])
    return maker.chunk


@dataclass
class Loaded:
    rows: dict[str, int]
    planted: Planted


async def load(connection: asyncpg.Connection[Any], nation: Nation, *, workers: int) -> Loaded:
    """The directory copy, the year's registrations and movements, and the incidents reported
    by hand; rows per table, and what was planted."""
    practices = directory(nation)
    await connection.copy_records_to_table(
        "practice_directory",
        records=[(p.ods_code, p.lmc_code, p.name) for p in nation.practices],
        columns=["ods_code", "lmc_code", "name"],
    )
    patients = patient_count(nation)
    # Chains end early (a death, a move away), and none has more than MAX_MOVES moves: the
    # mean asked of each is a little above the movements wanted per patient.
    moves_mean = max(1.0, MOVES_SCALE * nation.size.movements / patients)
    planted = Planted()
    rows = {"movement": 0, "registration": 0, "incident": 0}
    with pool_of(workers) as pool:
        pending = [
            pool(
                patient_rows,
                nation.seed,
                nation.as_of,
                first,
                min(CHUNK, patients - first),
                practices,
                moves_mean,
            )
            for first in range(0, patients, CHUNK)
        ]
        for future in pending:
            chunk: Chunk = await future
            await connection.copy_records_to_table(
                "movement", records=chunk.movements, columns=MOVEMENT_COLUMNS
            )
            await connection.copy_records_to_table(
                "registration", records=chunk.registrations, columns=REGISTRATION_COLUMNS
            )
            incidents = []
            for offset, row in enumerate(chunk.incidents, start=rows["incident"] + 1):
                incidents.append((offset, f"INC-N{offset:09d}", *row[1:]))
            await connection.copy_records_to_table(
                "incident", records=incidents, columns=INCIDENT_COLUMNS
            )
            rows["movement"] += len(chunk.movements)
            rows["registration"] += len(chunk.registrations)
            rows["incident"] += len(incidents)
            planted.extend(chunk.planted)
            print(f"    records: {rows['movement']:>10,} movements", flush=True)
    await continue_ids(connection, "movement", "incident", "registration")
    return Loaded(rows=rows, planted=planted)
