"""The daily feed: applied all or nothing with COPY, under the mutations' rules, once per feed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pytest
from pcse_kit.auth import Principal, Role
from pcse_kit.errors import Conflict
from records import feed
from records.models import (
    AuditEvent,
    Feed,
    Incident,
    Movement,
    MovementCount,
    MovementEvent,
    MovementStatus,
    Scan,
)
from records.timers import Targets
from sqlalchemy import func, select

if TYPE_CHECKING:
    from fastapi import FastAPI

S = MovementStatus
OPERATOR = Principal(subject="feed-test", role=Role.OPERATOR, scope=frozenset({"records"}))
HEADER = ",".join(feed.COLUMNS)
NOW = datetime.now(UTC).replace(microsecond=0)


def line(**cells: str) -> str:
    return ",".join(cells.get(column, "") for column in feed.COLUMNS)


def at(hours_ago: float) -> str:
    return (NOW - timedelta(hours=hours_ago)).isoformat()


def opened(number: str, nhs: str, *, receiving: dict[str, str] | None = None) -> str:
    ends = receiving or {"receiving_place": "practice", "receiving_ods_code": "A81001"}
    return line(
        type="opened", movement_number=number, at=at(10), nhs_number=nhs,
        sending_place="practice", sending_ods_code="B82002", reason="registration_elsewhere",
        deducted_on=(NOW - timedelta(days=1)).date().isoformat(), **ends,
    )  # fmt: skip


async def apply(app: FastAPI, feed_id: str, *lines: str) -> feed.FeedResult:
    return await feed.import_feed(
        app.state.sessionmaker,
        OPERATOR,
        feed_id=feed_id,
        csv_text="\n".join([HEADER, *lines]) + "\n",
        targets=Targets(),
        today=NOW.date(),
    )


async def written(app: FastAPI) -> tuple[int, ...]:
    async with app.state.sessionmaker() as session:
        return tuple(
            [
                await session.scalar(select(func.count()).select_from(table)) or 0
                for table in (Movement, MovementEvent, Scan, Incident, Feed)
            ]
        )


@pytest.mark.usefixtures("client")  # empties the tables afterwards
async def test_a_feed_opens_labels_readies_collects_and_delivers_in_one_go(
    app: FastAPI, make_movement: Any
) -> None:
    existing = await make_movement(status=S.READY_FOR_COLLECTION, sender="A81001",
                                   receiver="C83003", requested_days_ago=5)  # fmt: skip
    lines = [
        opened("MN0000000101", "9434765919"),
        line(type="label", movement_number="MN0000000101", at=at(9), label_number="PCS00000101"),
        line(type="status", movement_number="MN0000000101", at=at(8),
             status="ready_for_collection"),
        line(type="collection", movement_number="MN0000000101", at=at(7), scan_id="C-101"),
        line(type="delivery", movement_number="MN0000000101", at=at(6), scan_id="D-101"),
        line(type="collection", movement_number=existing, at=at(5), scan_id="C-900"),
    ]  # fmt: skip

    result = await apply(app, "PCSE-2026-11-20", *lines)

    assert (result.lines, result.movements_opened, result.movements_changed, result.scans,
            result.incidents, result.replayed) == (6, 1, 1, 3, 0, False)  # fmt: skip
    async with app.state.sessionmaker() as session:
        movements = {m.movement_number: m for m in (await session.scalars(select(Movement))).all()}
        history = (
            await session.scalars(
                select(MovementEvent.kind)
                .where(MovementEvent.movement_id == movements["MN0000000101"].id)
                .order_by(MovementEvent.id)
            )
        ).all()
        audit = await session.scalar(select(func.count()).select_from(AuditEvent))
        kept = {
            (c.ods_code, c.direction, c.status): c.count
            for c in (await session.scalars(select(MovementCount))).all()
            if c.count
        }
    new = movements["MN0000000101"]
    assert (new.status, new.label_number, new.is_open) == (S.DELIVERED, "PCS00000101", False)
    assert new.collection_due_on is not None  # its collection timer ran, and was met
    assert [k.value for k in history] == [
        "requested", "label_issued", "status_changed", "collection_scanned", "delivery_scanned",
    ]  # fmt: skip
    assert movements[existing].status is S.COLLECTED
    assert movements[existing].delivery_due_on is not None
    # One audit row per movement, and one for the feed.
    assert audit == 3
    # The kept counts follow COPY and the bulk update as they follow single writes.
    assert kept == {
        ("A81001", "in", S.DELIVERED): 1,
        ("B82002", "out", S.DELIVERED): 1,
        ("A81001", "out", S.COLLECTED): 1,
        ("C83003", "in", S.COLLECTED): 1,
    }

    # The same feed again changes nothing; the same id with another file is a conflict.
    before = await written(app)
    again = await apply(app, "PCSE-2026-11-20", *lines)
    assert (again.replayed, again.lines) == (True, 6)
    assert await written(app) == before
    with pytest.raises(Conflict):
        await apply(app, "PCSE-2026-11-20", *lines[:-1])


@pytest.mark.usefixtures("client")
async def test_one_bad_line_refuses_the_whole_feed_and_names_every_bad_line(
    app: FastAPI, make_movement: Any
) -> None:
    existing = await make_movement(status=S.REQUESTED, sender="A81001", receiver="C83003")
    before = await written(app)
    lines = [
        opened("MN0000000201", "9434765919"),
        # A delivery with no collection.
        line(type="delivery", movement_number="MN0000000201", at=at(6), scan_id="D-201"),
        # A movement nobody opened.
        line(type="status", movement_number="MN0000009999", at=at(6), status="in_progress"),
        # Requested cannot become lost.
        line(type="status", movement_number=existing, at=at(5), status="lost"),
        # Not a status the feed sets.
        line(type="status", movement_number=existing, at=at(5), status="delivered"),
        # Opened twice.
        opened("MN0000000201", "9434765919"),
    ]  # fmt: skip

    with pytest.raises(feed.FeedRejected) as refused:
        await apply(app, "PCSE-BAD", *lines)

    assert [(e.row, e.field) for e in refused.value.errors] == [
        (6, "status"),  # the form is checked first, for every line
    ]
    lines.pop(4)
    with pytest.raises(feed.FeedRejected) as refused:
        await apply(app, "PCSE-BAD", *lines)
    assert [(e.row, e.field) for e in refused.value.errors] == [
        (3, "status"),
        (4, "movement_number"),
        (5, "status"),
        (6, "movement_number"),
    ]
    assert await written(app) == before


@pytest.mark.usefixtures("client")
async def test_a_collection_for_another_nation_raises_an_empty_envelope_only_unconfirmed(
    app: FastAPI,
) -> None:
    scotland = {"receiving_place": "scotland"}
    lines = [
        opened("MN0000000301", "9434765919", receiving=scotland),
        line(type="status", movement_number="MN0000000301", at=at(8),
             status="ready_for_collection", printout_included="true"),
        line(type="collection", movement_number="MN0000000301", at=at(7), scan_id="C-301"),
        opened("MN0000000302", "9990000026", receiving=scotland),
        line(type="status", movement_number="MN0000000302", at=at(8),
             status="ready_for_collection"),
        line(type="collection", movement_number="MN0000000302", at=at(7), scan_id="C-302"),
    ]  # fmt: skip
    # Opened as a deduction for another nation: the reason says emigration.
    lines = [text.replace("registration_elsewhere", "emigration") for text in lines]

    result = await apply(app, "PCSE-NATIONS", *lines)

    assert result.incidents == 1
    async with app.state.sessionmaker() as session:
        incidents = (
            await session.execute(
                select(Movement.movement_number, Incident.kind, Incident.ods_code).join(
                    Movement, Movement.id == Incident.movement_id
                )
            )
        ).all()
    assert [(n, k.value, o) for n, k, o in incidents] == [
        ("MN0000000302", "empty_envelope", "B82002")
    ]


@pytest.mark.usefixtures("client")
async def test_a_scan_sent_again_is_a_no_op_and_a_reused_scan_id_is_refused(
    app: FastAPI, make_movement: Any
) -> None:
    number = await make_movement(status=S.READY_FOR_COLLECTION, sender="A81001",
                                 receiver="C83003", requested_days_ago=5)  # fmt: skip
    scan = line(type="collection", movement_number=number, at=at(5), scan_id="C-777")
    await apply(app, "DAY-1", scan)
    again = await apply(app, "DAY-2", scan)
    assert (again.scans, again.movements_changed) == (0, 1)
    other = await make_movement(status=S.READY_FOR_COLLECTION, sender="A81001",
                                receiver="C83003", requested_days_ago=5)  # fmt: skip
    with pytest.raises(feed.FeedRejected) as refused:
        await apply(app, "DAY-3", line(type="collection", movement_number=other, at=at(4),
                                       scan_id="C-777"))  # fmt: skip
    assert [(e.row, e.field) for e in refused.value.errors] == [(2, "scan_id")]
