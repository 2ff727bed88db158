"""The national data set at its small size: the same seed makes the same nation; loaded into a
stack of its own, the services find every payment fault planted and nothing else, and what the
gateway says of each LMC agrees with the databases."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import date
from typing import TYPE_CHECKING, Any

import asyncpg
import httpx
import pytest
from pcse_kit import dates

from bench.national import SIZES, Nation, build, payments, performers
from bench.national.load import Report, load, migrated
from stack import Stack, StackConfig

if TYPE_CHECKING:
    from collections.abc import Iterator

    from pcse_kit.postgres import EmbeddedPostgres

AS_OF = date(2026, 11, 20)
LMC_QUERY = """
query ($code: String!) {
  lmc(code: $code) {
    code
    performerCounts { status count }
    changeRequestAges { open withinTarget overdue beyondSixteenWeeks }
    findingCounts { kind count }
    paymentsSummary { practices anomalies { kind count practiceCodes } openDisputes { reference } }
    recordsSummary { practiceCount statusCounts { status incoming outgoing } }
  }
}
"""


def test_the_same_seed_makes_the_same_nation() -> None:
    first = build(SIZES["small"], seed=7, as_of=AS_OF)
    again = build(SIZES["small"], seed=7, as_of=AS_OF)
    other = build(SIZES["small"], seed=8, as_of=AS_OF)
    assert first.digest == again.digest
    assert first.digest != other.digest
    assert len(first.practices) == SIZES["small"].practices
    assert {p.lmc_code for p in first.practices} == {lmc.code for lmc in first.lmcs}
    # LMCs and ICBs are many-to-many: at least one LMC spans two ICBs.
    assert any(len(lmc.icb_codes) > 1 for lmc in first.lmcs)


def test_the_nation_looks_like_england() -> None:
    """The national size, built without a database: the figures the README gives sources for."""
    nation = build(SIZES["national"], seed=2026, as_of=AS_OF)
    practices = Counter(p.lmc_code for p in nation.practices)
    # Londonwide LMCs speaks for about 1,100 practices; the smallest LMCs for a few dozen or
    # fewer.
    assert practices["lmc-001"] == max(practices.values())
    assert 1_050 <= practices["lmc-001"] <= 1_150
    assert min(practices.values()) < 30
    posts = Counter(m.gmc_number for m in nation.memberships)
    roles = {m.gmc_number: m.role for m in nation.memberships}
    locums = [gmc for gmc, role in roles.items() if role == "locum"]
    assert all(posts[gmc] >= 2 for gmc in locums)
    assert sum(1 for gmc, role in roles.items() if role != "locum" and posts[gmc] > 1) > 1_000
    people = Counter(roles.values())
    assert 0.15 <= people["registrar"] / len(roles) <= 0.25
    assert people["salaried"] >= 0.3 * len(roles)
    assert people["partner"] >= 0.3 * len(roles)
    listed = {p.gmc_number: p.listed_on for p in nation.performers}
    assert all(m.start_date >= listed[m.gmc_number] for m in nation.memberships)
    for performer in nation.performers:
        row = performers._performer_row(performer)
        born, cct, registered = row[4], row[5], row[7]
        if cct is not None:
            assert cct >= date(2005, 1, 1)
            assert (cct - born).days >= 27 * 365
            assert registered < cct
        assert performer.listed_on >= date(2004, 4, 1)
    assert 40_000 <= len(nation.performers) <= 60_000


@pytest.fixture(scope="module")
def national(
    postgres: EmbeddedPostgres, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Nation, Report, dict[str, str], Stack]]:
    nation = build(SIZES["small"], seed=11, as_of=AS_OF)

    async def prepare() -> tuple[dict[str, str], Report]:
        urls = await migrated(postgres)
        return urls, await load(urls, nation, workers=1, detect_all=True)

    urls, report = asyncio.run(prepare())
    config = StackConfig.free_ports(
        tmp_path_factory.mktemp("national"),
        server_url=postgres.dsn(),
        database_urls=urls,
        seed_demo=False,
        trust_dev_key=True,
    )
    with Stack(config) as stack:
        yield nation, report, urls, stack


async def _fetch(url: str, query: str, *args: Any) -> list[asyncpg.Record]:
    connection = await asyncpg.connect(url)
    try:
        return list(await connection.fetch(query, *args))
    finally:
        await connection.close()


def test_every_planted_payment_fault_is_found_and_nothing_else(
    national: tuple[Nation, Report, dict[str, str], Stack],
) -> None:
    _, report, urls, _ = national
    assert len(report.faults) >= 8
    rows = asyncio.run(
        _fetch(urls["payments"], "SELECT ods_code, kind FROM anomaly WHERE resolved_at IS NULL")
    )
    found = {(row["ods_code"], row["kind"]) for row in rows}
    planted = dict(report.faults)
    assert set(report.faults) <= found
    # Every anomaly is in a practice given a fault, and of the kind planted there.
    assert {(code, kind) for code, kind in found if planted.get(code) != kind} == set()
    assert sum(report.anomalies.values()) == len(rows)


def test_statements_do_not_depend_on_how_practices_are_split_between_workers(
    national: tuple[Nation, Report, dict[str, str], Stack],
) -> None:
    nation, _, urls, _ = national

    async def read_rates() -> payments.BookRows:
        connection = await asyncpg.connect(urls["payments"])
        try:
            return await payments.rate_book_rows(connection)
        finally:
            await connection.close()

    rows = asyncio.run(read_rates())
    tasks = payments.practice_tasks(nation)[:6]
    span = payments.window(nation)
    whole = payments.make_chunk(span, rows, tasks, 0.5)
    halves = [payments.make_chunk(span, rows, part, 0.5) for part in (tasks[:3], tasks[3:])]
    assert whole.lines == halves[0].lines + halves[1].lines
    assert whole.faults == halves[0].faults + halves[1].faults
    # And what was loaded is what the generator makes.
    loaded = asyncio.run(
        _fetch(
            urls["payments"],
            "SELECT count(*) AS n FROM statement_line l JOIN statement s ON s.id = l.statement_id "
            "WHERE s.ods_code = ANY($1::text[])",
            [t.ods_code for t in tasks],
        )
    )
    assert loaded[0]["n"] == len(whole.lines)


def test_each_lmc_seen_through_the_gateway_agrees_with_the_databases(
    national: tuple[Nation, Report, dict[str, str], Stack],
) -> None:
    nation, _, urls, stack = national
    anomalies = asyncio.run(
        _fetch(
            urls["payments"],
            "SELECT d.lmc_code, a.kind, count(*) AS n, count(DISTINCT a.ods_code) AS practices "
            "FROM anomaly a JOIN practice_directory d USING (ods_code) "
            "WHERE a.resolved_at IS NULL GROUP BY 1, 2",
        )
    )
    disputes = Counter(
        row["lmc_code"]
        for row in asyncio.run(
            _fetch(
                urls["payments"],
                "SELECT d.lmc_code FROM dispute x JOIN practice_directory d USING (ods_code) "
                "WHERE x.resolved_at IS NULL",
            )
        )
    )
    outgoing = Counter(
        row["lmc_code"]
        for row in asyncio.run(
            _fetch(
                urls["records"],
                "SELECT d.lmc_code FROM movement m JOIN practice_directory d "
                "ON d.ods_code = m.sender_ods_code",
            )
        )
    )
    # An area's open requests: those naming one of its practices, and those about a GP
    # working at one of them today (GPs work at several practices, some in other areas).
    open_requests = asyncio.run(
        _fetch(
            urls["performers"],
            "SELECT l.code AS lmc_code, count(*) AS n FROM lmc l JOIN change_request c "
            "ON c.outcome IS NULL AND ("
            " c.ods_code IN (SELECT ods_code FROM practice WHERE lmc_code = l.code)"
            " OR c.gmc_number IN (SELECT m.gmc_number FROM membership m JOIN practice p"
            "  USING (ods_code) WHERE p.lmc_code = l.code AND m.start_date <= $1"
            "  AND (m.end_date IS NULL OR m.end_date >= $1))) GROUP BY 1",
            dates.today(),
        )
    )
    # As an LMC is shown them: a kind at 1 to 7 practices has no count (suppressed), one at 8
    # or more its count rounded to the nearest 5 (halves up).
    expected_anomalies = {
        (r["lmc_code"], r["kind"]): (
            r["practices"],
            None if r["practices"] <= 7 else 5 * ((r["n"] + 2) // 5),
        )
        for r in anomalies
    }
    requests = {r["lmc_code"]: r["n"] for r in open_requests}
    with httpx.Client(timeout=30) as client:
        for lmc in nation.lmcs:
            response = client.post(
                stack.gateway_url,
                json={"query": LMC_QUERY, "variables": {"code": lmc.code}},
                headers={"authorization": f"Bearer {stack.token('lmc', [lmc.code])}"},
            )
            body = response.json()
            assert "errors" not in body, body
            seen = body["data"]["lmc"]
            members = [p for p in nation.practices if p.lmc_code == lmc.code]
            summary = seen["paymentsSummary"]
            assert summary["practices"] == len(members)
            assert {
                (lmc.code, a["kind"].lower()): (len(a["practiceCodes"]), a["count"])
                for a in summary["anomalies"]
                if a["practiceCodes"]
            } == {key: n for key, n in expected_anomalies.items() if key[0] == lmc.code}
            assert len(summary["openDisputes"]) == disputes[lmc.code]
            records = seen["recordsSummary"]
            assert records["practiceCount"] == len(members)
            assert sum(s["outgoing"] for s in records["statusCounts"]) == outgoing[lmc.code]
            ages = seen["changeRequestAges"]
            assert ages["open"] == requests.get(lmc.code, 0)
            assert (
                ages["open"] == ages["withinTarget"] + ages["overdue"] + ages["beyondSixteenWeeks"]
            )
            findings = {f["kind"]: f["count"] for f in seen["findingCounts"]}
            assert findings.get("CHANGE_REQUEST_OVERDUE", 0) == ages["overdue"]
            assert findings.get("GOODWILL_COMPENSATION_MAY_APPLY", 0) == ages["beyondSixteenWeeks"]
            assert sum(c["count"] for c in seen["performerCounts"]) > 0


def test_the_records_failures_planted_are_found_and_nothing_else(
    national: tuple[Nation, Report, dict[str, str], Stack],
) -> None:
    _, report, urls, _ = national
    planted = report.planted.found
    # At least a few of each kind; the rest of the year keeps the rules.
    assert {kind for kind, _, _ in planted} == {
        "erroneous_archiving",
        "record_not_received",
        "incorrect_removal",
    }
    rows = asyncio.run(
        _fetch(
            urls["records"],
            "SELECT i.kind, i.ods_code, coalesce(r.nhs_number, m.nhs_number) AS nhs "
            "FROM incident i LEFT JOIN registration r ON r.id = i.registration_id "
            "LEFT JOIN movement m ON m.id = i.movement_id "
            "WHERE i.kind IN ('erroneous_archiving', 'record_not_received', "
            "'incorrect_removal')",
        )
    )
    assert {(row["kind"], row["ods_code"], row["nhs"]) for row in rows} == planted
    assert len(rows) == len(planted)
    # Each archived record put its patient on the practice's worklist.
    reviews = asyncio.run(_fetch(urls["records"], "SELECT ods_code, nhs_number FROM harm_review"))
    archived = {(ods, nhs) for kind, ods, nhs in planted if kind == "erroneous_archiving"}
    assert {(row["ods_code"], row["nhs_number"]) for row in reviews} == archived
