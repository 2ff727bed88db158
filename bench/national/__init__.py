"""A synthetic nation for the three services: deterministic from a seed, loaded with COPY.

England has about 6,500 GP practices in 42 ICBs and around a hundred LMCs (the largest,
Londonwide, about 1,100 practices), some 48,000 GPs working at practices (partners, salaried
GPs, registrars and locums, some at several practices), millions of record movements a year
and hundreds of thousands of payment lines a month. ``SIZES["national"]`` is that;
``SIZES["tenth"]`` a tenth of it in the same proportions; ``SIZES["small"]`` is the same shape
small enough for a test. Each choice and its source: the README's "How the national data set
is made". ``bench.national.cache`` keeps one load for every benchmark that needs it.

The same seed and the same ``as_of`` date always give the same data (``Nation.digest`` says
so in one string). Dates are laid out backwards from ``as_of``, so that timers, deadlines and
ages look as they would on that day.

- ``bench.national.performers``: practices, LMCs and their ICBs, branch sites, performers,
  memberships, status histories and change requests, with a sprinkling of each finding.
- ``bench.national.payments``: the directory copies with each practice's contract (GMS, PMS or
  APMS), quarterly lists, contract values, rates, QOF declarations, trainee placements, pension
  estimates with declared tiers and claims, and every month's statements issued from the
  service's own expected schedule as PCSE issues them (the demo's mechanics); then faults
  planted in a few practices' lines, found by the service's own detection, and disputes about
  some of them.
- ``bench.national.records``: a year of patients moving between practices: their
  registrations and deductions, the record movements in every status, failures planted for the
  records service's detection to find, and incidents practices report by hand.
- ``bench.national.load``: all of it into running databases, timed part by part.

    .venv/bin/python -m bench.national [--size small|tenth|national] [--seed 2026]
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import multiprocessing
import random
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from functools import cached_property
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    import asyncpg

SEED = 2026


@dataclass(frozen=True)
class Size:
    name: str
    practices: int
    icbs: int
    lmcs: int
    months: int
    """Months of payment statements, ending with the last month paid before ``as_of``."""
    movements: int
    """Record movements (and about twice as many registrations and deductions), over the year
    before ``as_of``."""
    performers_per_practice: tuple[int, int]


SIZES = {
    "national": Size("national", 6_500, 42, 100, 60, 6_000_000, (1, 45)),
    "small": Size("small", 48, 3, 4, 14, 4_000, (3, 8)),
    # A tenth of the nation, in the same proportions (65 practices an LMC, about 920 movements
    # a practice a year): for a machine that cannot load the whole of it in reasonable time.
    "tenth": Size("tenth", 650, 42, 10, 60, 600_000, (1, 45)),
}


@dataclass(frozen=True)
class PracticeSpec:
    index: int
    ods_code: str
    name: str
    postcode: str
    icb_code: str
    sub_icb_code: str
    lmc_code: str
    contract_type: str
    list_size: int
    status: str
    sites: tuple[str, ...]
    dispensing: bool = False
    training_practice: bool = False
    out_of_hours_opt_out: bool = False


@dataclass(frozen=True)
class LmcSpec:
    code: str
    name: str
    icb_codes: tuple[str, ...]


@dataclass(frozen=True)
class PerformerSpec:
    gmc_number: str
    given_name: str
    family_name: str
    status: str
    date_of_birth: date
    cct_date: date | None
    under_training_supervision: bool
    listed_on: date


@dataclass(frozen=True)
class MembershipSpec:
    id: int
    gmc_number: str
    ods_code: str
    role: str
    start_date: date
    end_date: date | None


@dataclass
class Nation:
    """Who and where: the performers service's directory, from which every service's copy is
    made."""

    size: Size
    seed: int
    as_of: date
    practices: list[PracticeSpec] = field(default_factory=list)
    lmcs: list[LmcSpec] = field(default_factory=list)
    performers: list[PerformerSpec] = field(default_factory=list)
    memberships: list[MembershipSpec] = field(default_factory=list)

    @cached_property
    def memberships_of(self) -> dict[str, list[MembershipSpec]]:
        found: dict[str, list[MembershipSpec]] = {p.ods_code: [] for p in self.practices}
        for membership in self.memberships:
            found[membership.ods_code].append(membership)
        return found

    @property
    def digest(self) -> str:
        """SHA-256 of everything in the directory, in order: equal digests, equal nations."""
        hasher = hashlib.sha256()
        for rows in (self.practices, self.lmcs, self.performers, self.memberships):
            for row in rows:
                hasher.update(repr(row).encode())
        return hasher.hexdigest()


GIVEN = (
    "Amelia", "Olivia", "Isla", "Ava", "Ivy", "Freya", "Lily", "Florence", "Mia", "Willow",
    "Rosie", "Sophia", "Isabella", "Grace", "Oliver", "George", "Noah", "Arthur", "Muhammad",
    "Leo", "Harry", "Oscar", "Archie", "Henry", "Theodore", "Freddie", "Jack", "Priya",
    "Aisha", "Fatima", "Chen", "Wei", "Ananya", "Rahul", "Kwame", "Chidi", "Tomasz",
    "Katarzyna", "Sean", "Niamh", "Rhys",
)  # fmt: skip
FAMILY = (
    "Smith", "Jones", "Williams", "Taylor", "Brown", "Davies", "Evans", "Wilson", "Thomas",
    "Johnson", "Roberts", "Robinson", "Thompson", "Wright", "Walker", "White", "Edwards",
    "Hughes", "Green", "Hall", "Lewis", "Harris", "Clarke", "Patel", "Jackson", "Wood",
    "Turner", "Martin", "Cooper", "Hill", "Ward", "Morris", "Moore", "Clark", "Lee", "King",
    "Baker", "Harrison", "Morgan", "Allen", "Khan", "Ahmed", "Ali", "Shah", "Singh", "Begum",
    "Hussain", "Chowdhury", "Okafor", "Mensah", "Nowak", "Kowalski", "Murphy", "Kelly",
)  # fmt: skip
LARGEST_LMC_SHARE = 1_100 / 6_500
"""Londonwide LMCs speaks for about 1,100 of England's about 6,500 practices (lmc.org.uk)."""
PATIENTS_PER_GP = 1_450
"""Registered patients per GP working at practices, by headcount: about 63.6 million
patients (NHS Digital, Patients Registered at a GP Practice, 2026) over about 38,100 fully
qualified GPs (General Practice Workforce, September 2024, via the BMA) and some 10,000 GPs in
training, less the locums drawn separately."""
ROLES = ("partner", "salaried", "locum", "registrar", "retainer")
CORE_ROLES = ("partner", "salaried", "registrar", "retainer")
CORE_WEIGHTS = (40, 40, 19, 1)
"""Of GPs employed by or partners in one practice, by headcount: salaried GPs passed partners
in 2024 (47% of fully qualified GPs, BJGP 2025, from General Practice Workforce September
2024; 18,557 salaried, NASGP 2024); GPs in training about a fifth of all GPs (13% in 2016,
BMJ Careers, and training places have grown since; inferred); retainers about 1%."""
LOCUM_SHARE = 0.10
"""Of the GPs at practices, the share who are locums, each at two to four practices in one
ICB. The GMC's register less salaried GPs and partners gives 17,836 in 2024 (NASGP), an upper
bound: many do little NHS general practice. An assumption between that and the 4% of 2016's
workforce data, which counted only regular locums."""
SECOND_PRACTICE = {"salaried": 0.12, "partner": 0.05}
"""Of salaried GPs and partners, the share who also work at a second practice in the same ICB.
General Practice Workforce says many staff work at more than one practice without a figure;
an assumption."""


def practice_rng(seed: int, key: str) -> random.Random:
    """A generator of its own for one practice (or one chunk): the same draws whatever order or
    process the practices are made in."""
    return random.Random(f"{seed}:{key}")


@contextmanager
def pool_of(workers: int) -> Iterator[Callable[..., asyncio.Future[Any]]]:
    """Something to run a generator function with: in ``workers`` processes (spawned, so the
    caller's event loop and connections are not copied), or, with one worker, right here."""
    if workers <= 1:

        def here(function: Callable[..., Any], *args: Any) -> asyncio.Future[Any]:
            future: Future[Any] = Future()
            future.set_result(function(*args))
            return asyncio.wrap_future(future)

        yield here
        return
    loop = asyncio.get_running_loop()
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        yield lambda function, *args: loop.run_in_executor(pool, function, *args)


async def continue_ids(connection: asyncpg.Connection[Any], *tables: str) -> None:
    """After rows were copied with ids of their own, let each table's sequence go on from the
    highest, so the services' own inserts do not collide with them."""
    for table in tables:
        await connection.execute(
            f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
            f"(SELECT coalesce(max(id), 0) + 1 FROM {table}), false)"
        )


def build(size: Size, *, seed: int = SEED, as_of: date) -> Nation:
    """The directory: ICBs, LMCs, practices, performers and who works where."""
    rng = random.Random(f"{seed}:directory")
    nation = Nation(size=size, seed=seed, as_of=as_of)
    icbs = [f"Q{chr(ord('A') + i // 10)}{i % 10}" for i in range(size.icbs)]

    codes: set[str] = set()
    while len(codes) < size.practices:
        codes.add(f"{rng.choice('ABCDEFGHJKLMNPY')}{rng.randint(10_000, 99_999)}")
    ordered = sorted(codes)
    # LMCs of uneven size, each over a contiguous run of practices; an ICB's practices are a
    # contiguous run too, so most LMCs cover one ICB and some span two or three, and the
    # largest (London's, first) spans several.
    cuts = _cuts(lmc_weights(rng, size.lmcs), size.practices)
    icb_cuts = _cuts([rng.uniform(0.6, 1.6) for _ in icbs], size.practices)
    lmc_of = [0] * size.practices
    icb_of = [0] * size.practices
    for number, (low, high) in enumerate(cuts):
        lmc_of[low:high] = [number] * (high - low)
    for number, (low, high) in enumerate(icb_cuts):
        icb_of[low:high] = [number] * (high - low)

    for index, code in enumerate(ordered):
        icb = icbs[icb_of[index]]
        list_size = int(min(max(rng.lognormvariate(9.05, 0.5), 1_200), 60_000))
        status = rng.choices(("active", "dormant", "closed"), (985, 5, 10))[0]
        sites = tuple(f"{code}{n:03d}" for n in range(1, rng.choices((1, 2, 3), (66, 26, 8))[0]))
        nation.practices.append(
            PracticeSpec(
                index=index, ods_code=code, name=f"{rng.choice(FAMILY)} Medical Practice",
                postcode=f"{rng.choice('BCEHLMNPSTW')}{rng.randint(1, 28)} "
                f"{rng.randint(1, 9)}{rng.choice('ABDEFGHJ')}{rng.choice('LNPQRSTU')}",
                icb_code=icb, sub_icb_code=f"{icb[1:]}{index % 7:03d}",
                lmc_code=f"lmc-{lmc_of[index] + 1:03d}",
                contract_type=rng.choices(("GMS", "PMS", "APMS"), (70, 27, 3))[0],
                list_size=list_size, status=status, sites=sites,
                **_flags(seed, code),
            )
        )  # fmt: skip
    for number in range(size.lmcs):
        members = [p for p in nation.practices if p.lmc_code == f"lmc-{number + 1:03d}"]
        family = rng.choice(FAMILY)
        nation.lmcs.append(
            LmcSpec(
                code=f"lmc-{number + 1:03d}",
                name="Londonwide LMCs" if number == 0 else f"{family}shire LMC",
                icb_codes=tuple(sorted({p.icb_code for p in members})),
            )
        )
    _performers(nation, rng)
    return nation


def lmc_weights(rng: random.Random, count: int) -> list[float]:
    """Relative sizes of the LMCs, the largest first: London's, LARGEST_LMC_SHARE of all
    practices; the others spread about tenfold either side of their median, from a dozen
    practices to a few hundred at national size."""
    others = [rng.lognormvariate(0.0, 0.6) for _ in range(count - 1)]
    if not others:
        return [1.0]
    largest = max(LARGEST_LMC_SHARE / (1 - LARGEST_LMC_SHARE) * sum(others), 1.2 * max(others))
    return [largest, *others]


def _flags(seed: int, code: str) -> dict[str, bool]:
    """Dispensing (about 1,000 of 6,500 practices), training and out-of-hours opt-out: from a
    generator of their own, so the rest of the nation is drawn as before."""
    rng = practice_rng(seed, f"flags:{code}")
    return {
        "dispensing": rng.random() < 0.15,
        "training_practice": rng.random() < 0.3,
        "out_of_hours_opt_out": rng.random() < 0.1,
    }


def quarter_of(day: date) -> date:
    return date(day.year, (day.month - 1) // 3 * 3 + 1, 1)


def quarters_before(day: date, count: int) -> list[date]:
    """The first days of ``day``'s quarter and the ``count - 1`` quarters before it."""
    first = quarter_of(day)
    months = first.year * 12 + first.month - 1
    return [date((months - 3 * n) // 12, (months - 3 * n) % 12 + 1, 1) for n in range(count)]


def quarterly_list(
    index: int, list_size: int, quarter: date, *, as_of: date
) -> tuple[int, Decimal]:
    """A practice's registered and weighted list for ``quarter``: its directory list in the
    quarter of ``as_of``, a little smaller each quarter before. The performers service holds
    the last four quarters, the payments service every quarter its statements cover: the same
    figures where both hold one."""
    current = quarter_of(as_of)
    back = max(0, (current.year - quarter.year) * 4 + (current.month - quarter.month) // 3)
    registered = max(0, list_size - back * (index % 40))
    weight = Decimal(100 + index % 17 - 8) / 100
    return registered, (registered * weight).quantize(Decimal("0.01"))


def _cuts(weights: list[float], total: int) -> list[tuple[int, int]]:
    """Split ``range(total)`` into runs in proportion to ``weights``, none empty."""
    scale = sum(weights)
    bounds = [0]
    running = 0.0
    for weight in weights[:-1]:
        running += weight
        bounds.append(max(bounds[-1] + 1, round(running / scale * total)))
    bounds.append(total)
    return list(itertools.pairwise(bounds))


PERFORMERS_LISTS_FROM = date(2004, 4, 1)
"""Performers lists began with the 2004 contract: nobody was listed earlier."""


def _years(day: date, years: float) -> date:
    return day + timedelta(days=round(years * 365.25))


@dataclass(frozen=True)
class _Career:
    born: date
    cct: date | None
    listed: date
    first_day: date
    """The first day the GP could have started at a practice in this role."""


def _career(rng: random.Random, role: str, *, as_of: date) -> _Career:
    """Dates a GP could have: full GMC registration in August of the year they turn 24 (after
    the first foundation year; ``performers._performer_row``), the second foundation year,
    then three years of GP training, so a CCT at 28 at the earliest, most by their early
    thirties; a registrar in training now, aged 26 to 36 when they started at this practice.
    A CCT before 2005 is shown as none (those GPs were certified before CCTs existed)."""
    if role == "registrar":
        started = as_of - timedelta(days=rng.randint(20, 700))
        born = _years(started, -rng.uniform(26, 36))
        return _Career(born, None, started - timedelta(days=rng.randint(10, 60)), started)
    age = rng.uniform(31, 66)
    born = _years(as_of, -age)
    cct_age = 28 + min(age - 29.5, rng.expovariate(1 / 2.5))
    cct = max(_years(born, cct_age), date(born.year + 28, 8, 1))
    cct = min(cct, as_of - timedelta(days=60))
    listed = max(cct + timedelta(days=rng.randint(0, 60)), PERFORMERS_LISTS_FROM)
    listed = min(listed, as_of - timedelta(days=40))
    return _Career(born, cct, listed, listed + timedelta(days=10))


def _started(rng: random.Random, career: _Career, *, as_of: date) -> date:
    """A day between the first the GP could start and a month before ``as_of``."""
    span = max(0, (as_of - timedelta(days=30) - career.first_day).days)
    return career.first_day + timedelta(days=rng.randint(0, span))


def _performers(nation: Nation, rng: random.Random) -> None:  # noqa: PLR0915 - one directory, told in order
    """GPs at each practice, as many as its list needs; some at a second practice; locums at
    several; some who left in the last five years; a few of each finding."""
    as_of = nation.as_of
    window = timedelta(days=365 * 5)
    used: set[int] = set()
    open_practices = [p for p in nation.practices if p.status != "closed"]
    by_icb: dict[str, list[PracticeSpec]] = {}
    for practice in open_practices:
        by_icb.setdefault(practice.icb_code, []).append(practice)

    def gmc() -> str:
        while (number := rng.randint(2_000_000, 7_999_999)) in used:
            pass
        used.add(number)
        return f"{number:07d}"

    def member(
        gmc_number: str, ods_code: str, role: str, started: date, ended: date | None
    ) -> None:
        nation.memberships.append(
            MembershipSpec(
                id=len(nation.memberships) + 1, gmc_number=gmc_number, ods_code=ods_code,
                role=role, start_date=started, end_date=ended,
            )
        )  # fmt: skip

    def leaving(started: date) -> date | None:
        """A leaver: left in the last five years and not working anywhere now."""
        if rng.random() < 0.1 and as_of - started > timedelta(days=90):
            return as_of - timedelta(
                days=rng.randint(1, min((as_of - started).days - 1, window.days))
            )
        return None

    def performer(role: str, career: _Career, ended: date | None) -> PerformerSpec:
        status = "included"
        roll = rng.random()
        if roll < 0.02:
            status = "included_with_conditions"
        elif ended is not None and roll < 0.5:
            status = "removed"
        elif roll < 0.024:
            status = rng.choice(("suspended", "deferred", "contingent_removal", "refused"))
        made = PerformerSpec(
            gmc_number=gmc(), given_name=rng.choice(GIVEN), family_name=rng.choice(FAMILY),
            status=status, date_of_birth=career.born, cct_date=career.cct,
            # A registrar is supervised; one in a hundred is shown as not: a finding.
            under_training_supervision=role == "registrar" and rng.random() > 0.01,
            listed_on=career.listed,
        )  # fmt: skip
        nation.performers.append(made)
        if rng.random() < 0.002:
            twin = PerformerSpec(
                gmc_number=gmc(), given_name=made.given_name, family_name=made.family_name,
                status="included", date_of_birth=career.born, cct_date=career.cct,
                under_training_supervision=False, listed_on=career.listed,
            )  # fmt: skip
            nation.performers.append(twin)
        return made

    low, high = nation.size.performers_per_practice
    core = 0
    for practice in open_practices:
        wanted = round(practice.list_size / PATIENTS_PER_GP * rng.uniform(0.7, 1.3))
        for _ in range(min(high, max(low, wanted))):
            core += 1
            role = rng.choices(CORE_ROLES, CORE_WEIGHTS)[0]
            career = _career(rng, role, as_of=as_of)
            started = (
                _started(rng, career, as_of=as_of) if role != "registrar" else career.first_day
            )
            ended = leaving(started)
            made = performer(role, career, ended)
            member(made.gmc_number, practice.ods_code, role, started, ended)
            neighbours = by_icb[practice.icb_code]
            if (
                made.status == "included" and ended is None and len(neighbours) > 1
                and rng.random() < SECOND_PRACTICE.get(role, 0.0)
            ):  # fmt: skip
                other = rng.choice([p for p in neighbours if p is not practice])
                member(
                    made.gmc_number, other.ods_code, role, _started(rng, career, as_of=as_of), None
                )
    # Locums: each at two to four practices of one ICB, drawn where practices are.
    for _ in range(round(core * LOCUM_SHARE / (1 - LOCUM_SHARE))):
        home = rng.choice(open_practices)
        neighbours = by_icb[home.icb_code]
        career = _career(rng, "locum", as_of=as_of)
        starts = [_started(rng, career, as_of=as_of) for _ in range(rng.randint(2, 4))]
        ended = leaving(max(starts))
        made = performer("locum", career, ended)
        others = [p for p in neighbours if p is not home]
        places = [home, *rng.sample(others, min(len(others), len(starts) - 1))]
        for place, started in zip(places, starts, strict=False):
            # A leaver left every practice after the last start (``leaving`` above).
            member(made.gmc_number, place.ods_code, "locum", started, ended)
