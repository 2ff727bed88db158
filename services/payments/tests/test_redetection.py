"""Re-detection over many practices: what it reads, in how many statements, and that working
through them in batches finds what detecting each practice alone finds."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Any

import pytest
from payments.detection import service
from payments.models import (
    Anomaly,
    AnomalyKind,
    ChainStatus,
    Component,
    LineRow,
    Outbox,
    Paymaster,
    PaymentRun,
    Statement,
    StatementLine,
)
from payments.schedule import facts
from payments.statements import repository as statements_repository
from pcse_kit.db import StatementCounter
from pcse_kit.testing import Token, graphql
from sqlalchemy import func, select

if TYPE_CHECKING:
    import httpx
    from fastapi import FastAPI

IMPORT = """
mutation ($run: String!, $csv: String!) {
  importPaymentRun(input: {runId: $run, csv: $csv}) { runId lineCount }
}
"""
HEADER = (
    "ods_code,period,paycode,component,amount,covers_from,covers_to,paymaster,source_system,"
    "authoriser,status,paid_on,gmc_number,authorised_on"
)
GSUM = 12_334_000
JAN, FEB, MAR = date(2026, 1, 1), date(2026, 2, 1), date(2026, 3, 1)

# The client fixture empties the tables after each test, so the next test starts clean.
pytestmark = pytest.mark.usefixtures("client")


async def test_the_lines_read_for_detection_are_the_lines_as_written(
    app: FastAPI, make_practice: Any, make_line: Any
) -> None:
    """Detection reads the lines without the ORM: every column, every enum a member of its
    enum, each practice's lines in line order and no other practice's."""
    for code in ("A81001", "B82002"):
        await make_practice(ods_code=code)
    await make_line(ods_code="A81001", period=JAN, component=Component.GLOBAL_SUM, amount=GSUM)
    await make_line(
        ods_code="B82002", period=JAN, component=Component.EMPLOYEE_SUPERANNUATION,
        amount=-535_00, paycode="SUPEREE", gmc_number="1234567", status=ChainStatus.ENTERED,
    )  # fmt: skip
    await make_line(
        ods_code="A81001", period=FEB, component=Component.PREMISES, amount=2_500_50,
        paycode="PREMRENT", covers_from=JAN, covers_to=date(2026, 2, 28),
    )  # fmt: skip

    async with app.state.sessionmaker() as session:
        read = await statements_repository.lines_of_practices(
            session, ["A81001", "B82002", "C83003"]
        )
        written = list(await session.scalars(select(StatementLine).order_by(StatementLine.id)))

    def as_row(line: StatementLine) -> LineRow:
        return LineRow(*(getattr(line, name) for name in LineRow._fields))

    assert read == {
        "A81001": [as_row(written[0]), as_row(written[2])],
        "B82002": [as_row(written[1])],
        "C83003": [],
    }
    [entered] = read["B82002"]
    assert entered.component is Component.EMPLOYEE_SUPERANNUATION
    assert entered.status is ChainStatus.ENTERED
    assert entered.paymaster is Paymaster.NHS_ENGLAND
    assert (entered.amount_pence, entered.gmc_number) == (-535_00, "1234567")


async def _one_month_each(make_practice: Any, make_line: Any, codes: list[str]) -> None:
    for code in codes:
        await make_practice(ods_code=code)
        await make_line(ods_code=code, period=JAN, component=Component.GLOBAL_SUM, amount=GSUM)


async def test_re_detection_takes_the_same_statements_for_two_practices_as_for_six(
    app: FastAPI, make_practice: Any, make_line: Any
) -> None:
    """Every kind of fact is read once for all the practices of a batch (the lines in one
    statement with one array parameter), never once a practice."""
    codes = [f"Z{n:05d}" for n in range(1, 7)]
    await _one_month_each(make_practice, make_line, codes)

    async def statements(practices: list[str]) -> int:
        async with app.state.sessionmaker.begin() as session:
            with StatementCounter().attached(app.state.engine) as counter:
                # Nothing is due yet on the first of the month: no anomaly to write.
                await service.sync_anomalies(session, practices, today=JAN)
        return counter.count

    two, six = await statements(codes[:2]), await statements(codes)
    assert two == six
    assert two > 0


async def test_practices_detected_in_batches_are_found_as_one_at_a_time(
    app: FastAPI, make_practice: Any, make_line: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Five practices in batches of two (three batches) open exactly the anomalies that
    detecting each practice alone then keeps: none opened, none resolved."""
    codes = [f"Y{n:05d}" for n in range(1, 6)]
    await _one_month_each(make_practice, make_line, codes)
    monkeypatch.setattr(service, "BATCH", 2)

    async with app.state.sessionmaker.begin() as session:
        batched = await service.sync_anomalies(session, codes, today=date(2026, 3, 20))
    # Each practice: January paid, February due on its last working day and missing.
    assert (batched.opened, batched.resolved, batched.open) == (5, 0, 5)
    for code in codes:
        async with app.state.sessionmaker.begin() as session:
            alone = await service.sync_anomalies(session, [code], today=date(2026, 3, 20))
        assert (alone.opened, alone.resolved, alone.open) == (0, 0, 1)
    async with app.state.sessionmaker() as session:
        found = list(await session.scalars(select(Anomaly).order_by(Anomaly.ods_code)))
    assert [(a.ods_code, a.kind, a.covers_from) for a in found] == [
        (code, AnomalyKind.MISSING, FEB) for code in codes
    ]


async def test_a_run_for_one_month_finds_a_duplicate_whose_first_payment_was_last_month(
    app: FastAPI, client: httpx.AsyncClient, token: Token, make_practice: Any
) -> None:
    """A run re-detects its practices whole, not only its own month: rent for May and June
    paid in May's run and again in June's is a duplicate found when June's run arrives."""
    await make_practice(ods_code="C83003")
    operator = token("operator", ["payments"])
    rent = (
        "C83003,{period},PREMRENT,premises,5001.00,2026-05-01,2026-06-30,icb,ISFE,Cornwall ICB,"
        "paid,{paid},,"
    )
    for run_id, period, paid in (
        ("R-05", "2026-05", "2026-05-29"),
        ("R-06", "2026-06", "2026-06-30"),
    ):
        csv = "\n".join([HEADER, rent.format(period=period, paid=paid)]) + "\n"
        body = await graphql(client, IMPORT, {"run": run_id, "csv": csv}, token=operator)
        assert body["data"]["importPaymentRun"] == {"runId": run_id, "lineCount": 1}

    async with app.state.sessionmaker() as session:
        lines = list(
            await session.scalars(
                select(StatementLine.id)
                .join(Statement, Statement.id == StatementLine.statement_id)
                .where(Statement.ods_code == "C83003")
                .order_by(StatementLine.id)
            )
        )
        [duplicate] = list(
            await session.scalars(
                select(Anomaly).where(
                    Anomaly.kind == AnomalyKind.DUPLICATE, Anomaly.resolved_at.is_(None)
                )
            )
        )
    assert (duplicate.ods_code, duplicate.component) == ("C83003", Component.PREMISES)
    assert duplicate.covers_from == date(2026, 5, 1)
    # Paid twice: £5,001.00 more than once, the repeat repayable; both runs' lines in evidence.
    assert duplicate.amount_at_stake_pence == 500_100
    assert len(lines) == 2  # May's run and June's
    assert duplicate.evidence["lineIds"] == lines


RENT = (
    "{code},{period},PREMRENT,premises,{amount},{start},{end},icb,ISFE,ICB,{status},{paid},,{auth}"
)


def _rent(
    code: str, amount: str, *, period: str = "2026-06", start: str = "", end: str = "",
    status: str = "paid", paid: str = "2026-06-30", auth: str = "",
) -> str:  # fmt: skip
    return RENT.format(
        code=code, period=period, amount=amount, start=start, end=end, status=status, paid=paid,
        auth=auth,
    )  # fmt: skip


async def test_an_import_detects_each_batch_from_the_lines_in_memory_as_a_read_back_would(
    app: FastAPI,
    client: httpx.AsyncClient,
    token: Token,
    make_practice: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An import writes its lines a batch of practices at a time and detects each batch from
    the lines in memory while they are written: what it finds is what detecting the
    practices again from the database finds, line ids included."""
    for code in ("A81001", "B82002", "C83003"):
        await make_practice(ods_code=code)
    operator = token("operator", ["payments"])
    may = "\n".join(
        [HEADER, _rent("C83003", "5001.00", period="2026-05", start="2026-05-01",
                       end="2026-06-30", paid="2026-05-29")]
    )  # fmt: skip
    body = await graphql(client, IMPORT, {"run": "R-05", "csv": may + "\n"}, token=operator)
    assert body["data"]["importPaymentRun"] == {"runId": "R-05", "lineCount": 1}

    monkeypatch.setattr(service, "BATCH", 2)  # two batches: A81001 and B82002, then C83003
    writes: list[list[int]] = []
    copy_lines = statements_repository.copy_lines

    async def counted(session: Any, records: Any, columns: Any) -> None:
        rows = list(records)
        writes.append([row[0] for row in rows])
        await copy_lines(session, rows, columns)

    monkeypatch.setattr(statements_repository, "copy_lines", counted)
    june = "\n".join(
        [
            HEADER,
            # C83003 first in the file: the lines are written in practice order all the same.
            _rent("C83003", "5001.00", start="2026-05-01", end="2026-06-30"),
            _rent("A81001", "2500.00"),
            _rent("B82002", "1200.00", status="authorised", paid="", auth="2026-06-10"),
            _rent("A81001", "2500.00"),
        ]
    )
    body = await graphql(client, IMPORT, {"run": "R-06", "csv": june + "\n"}, token=operator)
    assert body["data"]["importPaymentRun"] == {"runId": "R-06", "lineCount": 4}

    async with app.state.sessionmaker() as session:
        rows = (
            await session.execute(
                select(StatementLine.id, Statement.ods_code, StatementLine.run_id)
                .join(Statement, Statement.id == StatementLine.statement_id)
                .order_by(StatementLine.id)
            )
        ).all()
        found = list(
            await session.scalars(
                select(Anomaly)
                .where(Anomaly.kind.in_([AnomalyKind.DUPLICATE, AnomalyKind.STUCK]))
                .order_by(Anomaly.ods_code)
            )
        )
    may_id, a1, a2, b1, c1 = (row.id for row in rows)
    assert [(row.ods_code, row.run_id) for row in rows] == [
        ("C83003", "R-05"), ("A81001", "R-06"), ("A81001", "R-06"), ("B82002", "R-06"),
        ("C83003", "R-06"),
    ]  # fmt: skip
    assert writes == [[a1, a2, b1], [c1]]
    assert [
        (a.ods_code, a.kind, a.covers_from, a.amount_at_stake_pence, a.evidence["lineIds"])
        for a in found
    ] == [
        # Rent of £2,500.00 for June paid twice in the one file: £2,500.00 more than once.
        ("A81001", AnomalyKind.DUPLICATE, date(2026, 6, 1), 250_000, [a1, a2]),
        # £1,200.00 authorised on 10 June and never entered for payment.
        ("B82002", AnomalyKind.STUCK, date(2026, 6, 1), 120_000, [b1]),
        # May's and June's rent paid in May's run and again in June's: £5,001.00 twice.
        ("C83003", AnomalyKind.DUPLICATE, date(2026, 5, 1), 500_100, [may_id, c1]),
    ]
    # Detected again from the database, the lines read back: nothing opens, nothing resolves.
    async with app.state.sessionmaker.begin() as session:
        again = await service.sync_anomalies(
            session, ["A81001", "B82002", "C83003"], today=date.today()
        )
    assert (again.opened, again.resolved) == (0, 0)


async def test_an_import_that_fails_while_detecting_leaves_nothing(
    app: FastAPI,
    client: httpx.AsyncClient,
    token: Token,
    make_practice: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A failure in the second batch's detection, after the first batch's lines were written,
    rolls the whole run back: no line, no run, no statement, no event."""
    for code in ("A81001", "B82002", "C83003"):
        await make_practice(ods_code=code)
    monkeypatch.setattr(service, "BATCH", 2)
    detect = facts.Snapshot.detect

    def failing(self: facts.Snapshot, code: str, *, today: date) -> Any:
        if code == "C83003":
            raise RuntimeError("detection failed")
        return detect(self, code, today=today)

    monkeypatch.setattr(facts.Snapshot, "detect", failing)
    written: list[int] = []
    copy_lines = statements_repository.copy_lines

    async def counted(session: Any, records: Any, columns: Any) -> None:
        rows = list(records)
        await copy_lines(session, rows, columns)
        written.append(len(rows))

    monkeypatch.setattr(statements_repository, "copy_lines", counted)
    june = "\n".join(
        [HEADER, _rent("A81001", "2500.00"), _rent("B82002", "1200.00"),
         _rent("C83003", "5001.00")]
    )  # fmt: skip
    body = await graphql(
        client, IMPORT, {"run": "R-06", "csv": june + "\n"},
        token=token("operator", ["payments"]),
    )  # fmt: skip
    assert body["data"] is None
    assert body["errors"][0]["extensions"]["code"] == "INTERNAL_SERVER_ERROR"
    assert written == [2]  # the first batch's lines went in before the second batch failed
    async with app.state.sessionmaker() as session:
        counts = [
            await session.scalar(select(func.count()).select_from(table))
            for table in (StatementLine, Statement, PaymentRun, Outbox)
        ]
    assert counts == [0, 0, 0, 0]
