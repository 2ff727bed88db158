"""The practice directory from the ODS file, and list sizes by quarter.

The rows are written by hand in the ``epraccur.csv`` layout: 27 columns, no header.
"""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Any

import pytest
from pcse_kit.auth import Principal, Role
from performers.directory import ListSizesRejected, load_directory, load_list_sizes
from performers.models import (
    AuditEvent,
    Lmc,
    LmcIcb,
    Outbox,
    Performer,
    Practice,
    PracticeListSize,
)
from performers.published import ExportRejected, load_published_list
from sqlalchemy import func, insert, select

if TYPE_CHECKING:
    from fastapi import FastAPI

# The client fixture empties the tables after each test.
pytestmark = pytest.mark.usefixtures("client")

OPERATOR = Principal(subject="ods-loader", role=Role.OPERATOR, scope=frozenset({"performers"}))


def ods_row(
    code: str,
    name: str,
    *,
    icb: str = "QT6",
    status: str = "A",
    opened: str = "19740401",
    closed: str = "",
    sub_icb: str = "11N",
    setting: str = "4",
) -> str:
    """One ``epraccur.csv`` row: columns 0-26 in the ODS order."""
    columns = [
        code, name, "Y58", icb, "THE SURGERY", "1 HIGH STREET", "", "TRURO", "CORNWALL",
        "TR1 1AA", opened, closed, status, "B", sub_icb, "20130401", "", "01872 000000",
        "", "", "", "0", "", sub_icb, "", setting, "",
    ]  # fmt: skip
    assert len(columns) == 27
    return ",".join(columns)


FILE = "\n".join(
    [
        ods_row("A81001", "RIVERSIDE SURGERY"),
        ods_row("A81002", "HARBOUR VIEW SURGERY"),
        # Closed on 31 March 2025, merged into A81001 (from the successor file).
        ods_row("A81003", "OLD MILL SURGERY", status="C", closed="20250331"),
        # An out-of-hours service (prescribing setting 2): not a GP practice.
        ods_row("Y01234", "KERNOW OOH", setting="2"),
        # An ICB no single LMC covers: left for an operator.
        ods_row("B82001", "ELSEWHERE PRACTICE", icb="QH8", sub_icb="06Q"),
    ]
)
SUCCESSORS = "A81003,A81001,20250401,1\n"


@pytest.fixture
async def area(app: FastAPI) -> None:
    """Kernow LMC alone covers QT6; two LMCs cover QH8."""
    async with app.state.sessionmaker.begin() as session:
        await session.execute(
            insert(Lmc),
            [
                {"code": "kernow", "name": "Kernow LMC"},
                {"code": "essex", "name": "Essex LMCs"},
                {"code": "other", "name": "Other LMC"},
            ],
        )
        await session.execute(
            insert(LmcIcb),
            [
                {"lmc_code": "kernow", "icb_code": "QT6"},
                {"lmc_code": "essex", "icb_code": "QH8"},
                {"lmc_code": "other", "icb_code": "QH8"},
            ],
        )


async def rows(app: FastAPI) -> tuple[int, int, int]:
    async with app.state.sessionmaker() as session:
        return (
            await session.scalar(select(func.count()).select_from(Practice)) or 0,
            await session.scalar(select(func.count()).select_from(AuditEvent)) or 0,
            await session.scalar(select(func.count()).select_from(Outbox)) or 0,
        )


@pytest.mark.usefixtures("area")
async def test_a_load_then_the_same_load_again_changes_nothing(app: FastAPI) -> None:
    first = await load_directory(
        app.state.sessionmaker, OPERATOR, epraccur=FILE, successors=SUCCESSORS
    )
    assert (first.rows, first.practices, first.inserted, first.updated) == (5, 4, 3, 0)
    assert dict(first.skipped) == {
        "not a GP practice (prescribing setting)": 1,
        "no single LMC covers the ICB": 1,
    }
    assert await rows(app) == (3, 3, 3)
    async with app.state.sessionmaker() as session:
        old_mill = await session.get(Practice, "A81003")
        payload = (
            await session.execute(select(Outbox.c.payload).where(Outbox.c.key == "A81003"))
        ).scalar_one()
    assert old_mill is not None
    assert (old_mill.status.value, str(old_mill.closed_on), old_mill.successor_code) == (
        "closed",
        "2025-03-31",
        "A81001",
    )
    assert old_mill.address == "THE SURGERY, 1 HIGH STREET, TRURO, CORNWALL"
    assert old_mill.lmc_code == "kernow"
    # The contract type and the flags are not in the ODS file: unknown, not false.
    assert payload["contractType"] is None
    assert payload["dispensing"] is None
    assert payload["closedOn"] == "2025-03-31"

    again = await load_directory(
        app.state.sessionmaker, OPERATOR, epraccur=FILE, successors=SUCCESSORS
    )
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, 3)
    assert await rows(app) == (3, 3, 3)


@pytest.mark.usefixtures("area")
async def test_a_closure_in_a_later_file_is_one_change_published(app: FastAPI) -> None:
    await load_directory(app.state.sessionmaker, OPERATOR, epraccur=FILE)
    later = FILE.replace(
        ods_row("A81002", "HARBOUR VIEW SURGERY"),
        ods_row("A81002", "HARBOUR VIEW SURGERY", status="C", closed="20260930"),
    )
    report = await load_directory(app.state.sessionmaker, OPERATOR, epraccur=later)
    assert (report.updated, report.closed, report.unchanged) == (1, 1, 2)
    async with app.state.sessionmaker() as session:
        events = (
            await session.execute(
                select(Outbox.c.type, Outbox.c.payload).where(Outbox.c.key == "A81002")
            )
        ).all()
    assert [e.payload["status"] for e in events] == ["active", "closed"]


async def test_a_row_not_in_the_layout_is_reported_and_skipped(app: FastAPI, make_lmc: Any) -> None:
    await make_lmc()
    report = await load_directory(
        app.state.sessionmaker,
        OPERATOR,
        epraccur="A81001,RIVERSIDE,Y58\n" + ods_row("A8100X", "BAD"),
    )
    assert report.inserted == 0
    assert report.problems == [
        "line 1: 3 columns, the layout has 27",
        "line 2: 'A8100X' is not a practice code",
    ]


LIST_SIZES = """ods_code,quarter_start,registered_patients,weighted_patients
A81001,2026-01-01,8123,8804.456
A81001,2026-04-01,8150,8830.1
A81002,2026-04-01,4000,3951.00
"""


@pytest.mark.usefixtures("area")
async def test_list_sizes_by_quarter_publish_for_payments(app: FastAPI) -> None:
    await load_directory(app.state.sessionmaker, OPERATOR, epraccur=FILE)
    report = await load_list_sizes(
        app.state.sessionmaker, OPERATOR, text=LIST_SIZES, source="list sizes 2026-04"
    )
    assert (report.rows, report.recorded, report.practices_resized) == (3, 3, 2)
    async with app.state.sessionmaker() as session:
        recorded = (
            (
                await session.execute(
                    select(Outbox.c.payload)
                    .where(Outbox.c.type == "practice.list_size_recorded")
                    .order_by(Outbox.c.id)
                )
            )
            .scalars()
            .all()
        )
        riverside = await session.get(Practice, "A81001")
    assert recorded[0] == {
        "odsCode": "A81001",
        "quarterStart": "2026-01-01",
        "registeredPatients": 8123,
        # 8804.456 to two places, half up.
        "weightedPatients": "8804.46",
        "source": "list sizes 2026-04",
    }
    assert recorded[1]["weightedPatients"] == "8830.10"
    # The latest quarter sets the practice's list size.
    assert riverside is not None
    assert riverside.list_size == 8150

    again = await load_list_sizes(
        app.state.sessionmaker, OPERATOR, text=LIST_SIZES, source="list sizes 2026-04"
    )
    assert (again.recorded, again.unchanged) == (0, 3)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("ods_code,quarter\n", "line 1: the header must be"),
        (LIST_SIZES + "A81001,2026-02-01,1,1\n", "line 5: 2026-02-01 is not the first day"),
        (LIST_SIZES + "A81001,2026-07-01,-1,1\n", "line 5: patients cannot be negative"),
        (LIST_SIZES + "Z99999,2026-07-01,1,1\n", "Z99999: not in the directory"),
    ],
)
@pytest.mark.usefixtures("area")
async def test_a_bad_list_size_file_changes_nothing(app: FastAPI, text: str, problem: str) -> None:
    await load_directory(app.state.sessionmaker, OPERATOR, epraccur=FILE)
    with pytest.raises(ListSizesRejected) as rejected:
        await load_list_sizes(app.state.sessionmaker, OPERATOR, text=text, source="x")
    assert rejected.value.problems[0].startswith(problem)
    async with app.state.sessionmaker() as session:
        assert await session.scalar(select(func.count()).select_from(PracticeListSize)) == 0


@pytest.mark.usefixtures("area")
async def test_an_operator_names_the_lmc_for_an_icb_no_single_lmc_covers(app: FastAPI) -> None:
    with pytest.raises(ValueError, match="no LMC has the code nowhere"):
        await load_directory(
            app.state.sessionmaker, OPERATOR, epraccur=FILE, lmc_for_icb={"QH8": "nowhere"}
        )
    assert await rows(app) == (0, 0, 0)
    report = await load_directory(
        app.state.sessionmaker, OPERATOR, epraccur=FILE, lmc_for_icb={"QH8": "essex"}
    )
    assert report.inserted == 4
    async with app.state.sessionmaker() as session:
        elsewhere = await session.get(Practice, "B82001")
    assert elsewhere is not None
    assert elsewhere.lmc_code == "essex"


EXPORT = """gmc_number,name,status
{shown},Dr A Shown,Included
{twice},Dr B Twice,Included
{twice},Dr B Twice,Included
7999999,Dr Not Held,Included
12345,Malformed,Included
"""


async def test_an_export_of_the_published_list_finds_the_hidden_and_the_doubled(
    app: FastAPI, make_lmc: Any, make_practice: Any, make_performer: Any
) -> None:
    await make_lmc()
    await make_practice()
    shown = await make_performer()
    twice = await make_performer(family_name="Twice")
    hidden = await make_performer(family_name="Hidden")
    text = EXPORT.format(shown=shown, twice=twice)

    report = await load_published_list(
        app.state.sessionmaker, OPERATOR, text=text, checked_on=date(2026, 1, 5)
    )
    assert (report.entries, report.numbers, report.malformed) == (4, 3, 1)
    assert (report.changed, report.not_visible, report.listed_twice, report.not_held) == (
        3,
        1,
        1,
        1,
    )
    async with app.state.sessionmaker() as session:
        held = {
            p.gmc_number: (
                p.public_list_entries,
                p.public_list_visible,
                str(p.public_list_checked_on),
            )
            for p in await session.scalars(select(Performer))
        }
    assert held == {
        shown: (1, True, "2026-01-05"),
        twice: (2, True, "2026-01-05"),
        hidden: (0, False, "2026-01-05"),
    }

    again = await load_published_list(
        app.state.sessionmaker, OPERATOR, text=text, checked_on=date(2026, 1, 5)
    )
    assert again.changed == 0
    # One practice; three audit rows and three events, all from the first load.
    assert await rows(app) == (1, 3, 3)

    with pytest.raises(ExportRejected):
        await load_published_list(
            app.state.sessionmaker, OPERATOR, text="name\nDr A\n", checked_on=date(2026, 1, 5)
        )
