"""SQL of statements, lines and payment runs. Nothing here commits."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Date,
    Integer,
    Select,
    String,
    and_,
    any_,
    bindparam,
    case,
    column,
    func,
    literal,
    or_,
    select,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import insert as pg_insert

from payments.models import (
    ChainStatus,
    Component,
    LedgerAccount,
    LineRow,
    Paycode,
    Paymaster,
    PaymentRun,
    PracticeDirectory,
    Statement,
    StatementLine,
    StatementRow,
)

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence
    from datetime import date

    from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession


# The statements of the request path are built once, not per call: building a select and
# its cache key cost more than running it. Lists go in as one array parameter (``= ANY``):
# an expanding ``IN`` would render new SQL, and a new prepared statement, for each length.

_CODES = bindparam("codes", type_=ARRAY(String))


def _ranked_statements(*, before: bool) -> Any:
    """Each statement of the practices asked for, older than ``before`` if given, with its
    rank among its practice's statements, newest first."""
    ranked = select(
        Statement.id,
        func.row_number()
        .over(partition_by=Statement.ods_code, order_by=Statement.period.desc())
        .label("rank"),
    ).where(Statement.ods_code == any_(_CODES))
    if before:
        ranked = ranked.where(Statement.period < bindparam("before", type_=Date))
    return ranked.subquery()


_STATEMENT_COLUMNS = (
    Statement.id,
    Statement.ods_code,
    Statement.period,
    Statement.payment_date,
    Statement.source_system,
)


def _latest_statements(*, before: bool) -> Select[int, str, date, date, str]:
    ranked_sq = _ranked_statements(before=before)
    return (
        select(*_STATEMENT_COLUMNS)
        .join(ranked_sq, ranked_sq.c.id == Statement.id)
        .where(ranked_sq.c.rank <= bindparam("limit", type_=Integer))
        .order_by(Statement.ods_code, Statement.period.desc())
    )


_LATEST_STATEMENTS = _latest_statements(before=False)


_LATEST_STATEMENTS_BEFORE = _latest_statements(before=True)


_LINE_COLUMNS = tuple(StatementLine.__table__.c[name] for name in LineRow._fields)


def _latest_statements_with_lines(*, before: bool) -> Select[Any]:
    """The page of :func:`_latest_statements` and the lines of the statements it shows, in
    one statement: a row per line (a statement without lines, or one past ``shown``, has one
    row whose line columns are null)."""
    ranked_sq = _ranked_statements(before=before)
    return (
        select(*_STATEMENT_COLUMNS, *_LINE_COLUMNS)
        .join(ranked_sq, ranked_sq.c.id == Statement.id)
        .outerjoin(
            StatementLine,
            and_(
                StatementLine.statement_id == Statement.id,
                ranked_sq.c.rank <= bindparam("shown", type_=Integer),
            ),
        )
        .where(ranked_sq.c.rank <= bindparam("limit", type_=Integer))
        .order_by(Statement.ods_code, Statement.period.desc(), StatementLine.id)
    )


_LATEST_STATEMENTS_WITH_LINES = _latest_statements_with_lines(before=False)


_LATEST_STATEMENTS_WITH_LINES_BEFORE = _latest_statements_with_lines(before=True)


_LINES_OF_STATEMENTS = (
    select(*_LINE_COLUMNS)
    .where(StatementLine.statement_id == any_(bindparam("ids", type_=ARRAY(BigInteger))))
    .order_by(StatementLine.statement_id, StatementLine.id)
)


_LINES_BY_ID = select(*_LINE_COLUMNS).where(
    StatementLine.id == any_(bindparam("ids", type_=ARRAY(BigInteger)))
)


async def latest_statements(
    session: AsyncSession | AsyncConnection,
    codes: Sequence[str],
    *,
    before: date | None,
    limit: int,
) -> list[StatementRow]:
    """Up to ``limit`` statements per practice, newest period first, older than ``before``.

    One statement for any number of practices: a window per practice, not a query each.
    """
    params: dict[str, object] = {"codes": list(codes), "limit": limit}
    if before is None:
        result = await session.execute(_LATEST_STATEMENTS, params)
    else:
        result = await session.execute(_LATEST_STATEMENTS_BEFORE, {**params, "before": before})
    return [StatementRow(*row) for row in result]


async def latest_statements_with_lines(
    session: AsyncSession | AsyncConnection,
    codes: Sequence[str],
    *,
    before: date | None,
    limit: int,
    shown: int,
) -> list[tuple[StatementRow, LineRow | None]]:
    """:func:`latest_statements` and, for each practice's first ``shown`` statements, their
    lines in line order, in one round trip: (statement, line) for each line, (statement, None)
    for a statement without lines shown."""
    params: dict[str, object] = {"codes": list(codes), "limit": limit, "shown": shown}
    if before is None:
        result = await session.execute(_LATEST_STATEMENTS_WITH_LINES, params)
    else:
        result = await session.execute(
            _LATEST_STATEMENTS_WITH_LINES_BEFORE, {**params, "before": before}
        )
    width = len(_STATEMENT_COLUMNS)
    found: list[tuple[StatementRow, LineRow | None]] = []
    for row in result:
        statement = StatementRow(*row[:width])
        found.append((statement, None if row[width] is None else LineRow(*row[width:])))
    return found


async def lines_of_statements(session: AsyncSession, statement_ids: Sequence[int]) -> list[LineRow]:
    result = await session.execute(_LINES_OF_STATEMENTS, {"ids": list(statement_ids)})
    return [LineRow(*row) for row in result]


async def statement_for(session: AsyncSession, ods_code: str, period: date) -> Statement | None:
    return await session.scalar(
        select(Statement).where(Statement.ods_code == ods_code, Statement.period == period)
    )


async def lines_by_id(session: AsyncSession, ids: Sequence[int]) -> list[LineRow]:
    return [LineRow(*row) for row in await session.execute(_LINES_BY_ID, {"ids": list(ids)})]


_LINES_OF_PRACTICES = (
    "SELECT s.ods_code, l.id, l.statement_id, l.component, l.paycode, l.description,"
    " l.amount_pence, l.covers_from, l.covers_to, l.paymaster, l.source_system, l.authoriser,"
    " l.status, l.authorised_on, l.entered_on, l.paid_on, l.failed_on, l.reversed_on,"
    " l.gmc_number, l.run_id, l.remittance_ref"
    " FROM statement s JOIN statement_line l ON l.statement_id = s.id"
    " WHERE s.ods_code = ANY($1::text[]) ORDER BY l.id"
)
"""Every line of the practices' statements. ``= ANY`` of one array parameter, not ``IN`` with a
parameter per practice: one prepared statement whatever the number of practices."""

_COMPONENTS = {member.value: member for member in Component}
_PAYMASTERS = {member.value: member for member in Paymaster}
_STATUSES = {member.value: member for member in ChainStatus}


async def lines_of_practices(
    session: AsyncSession, codes: Sequence[str]
) -> dict[str, list[LineRow]]:
    """Every line of the practices' statements, for detection, by practice, in line order.

    A national refresh reads millions of lines, so they are read as the driver returns them
    and made into :class:`LineRow` directly: the ORM's row processing and per-column enum
    conversion cost more than the rest of the read (each enum here is looked up once per line
    in a dict of its members). Through the session's connection, so in its transaction, and
    seen by whatever watches the engine's statements.
    """
    connection = await session.connection()
    result = await connection.exec_driver_sql(_LINES_OF_PRACTICES, (list(codes),))
    components, paymasters, statuses = _COMPONENTS, _PAYMASTERS, _STATUSES
    new = tuple.__new__
    found: dict[str, list[LineRow]] = {code: [] for code in codes}
    r: Any
    for r in result:
        found[r[0]].append(
            new(
                LineRow,
                (
                    r[1], r[2], components[r[3]], r[4], r[5], r[6], r[7], r[8],
                    paymasters[r[9]], r[10], r[11], statuses[r[12]], r[13], r[14], r[15],
                    r[16], r[17], r[18], r[19], r[20],
                ),
            )
        )  # fmt: skip
    return found


async def _driver(session: AsyncSession) -> Any:
    """The asyncpg connection under the session: the same transaction, without the ORM."""
    connection = await session.connection()
    raw = await connection.get_raw_connection()
    driver = raw.driver_connection
    if driver is None:  # pragma: no cover - a pooled connection always has its driver's
        raise RuntimeError("no asyncpg connection under the session")
    return driver


async def schedule_lines_of_practices(
    session: AsyncSession, codes: Sequence[str]
) -> list[tuple[str, LineRow]]:
    """The lines the schedule itself reads, without the rest: QOF aspiration (the balance and
    the provisional figure), the pension levy's presentation, the out-of-hours deduction and
    the core contract payments (which contract a practice is on, until the directory says)."""
    result = await session.execute(
        select(Statement.ods_code, *_LINE_COLUMNS)
        .join(Statement, Statement.id == StatementLine.statement_id)
        .where(
            Statement.ods_code.in_(codes),
            or_(
                StatementLine.component.in_(
                    [Component.QOF_ASPIRATION, Component.PENSION_ADMIN_LEVY]
                ),
                StatementLine.paycode.in_(["GSUMOOH", "GSUM", "PMSBASE", "APMSCON"]),
            ),
        )
        .order_by(StatementLine.id)
    )
    return [(row[0], LineRow(*row[1:])) for row in result]


async def schedule_starts(session: AsyncSession, codes: Sequence[str]) -> dict[str, date]:
    """The period of each practice's first statement: its schedule starts there."""
    result = await session.execute(
        select(Statement.ods_code, func.min(Statement.period))
        .where(Statement.ods_code.in_(codes))
        .group_by(Statement.ods_code)
    )
    return dict(result.all())


async def paycodes(session: AsyncSession) -> list[Paycode]:
    return list(await session.scalars(select(Paycode).order_by(Paycode.code)))


async def pension_lines(
    session: AsyncSession, gmc_numbers: Sequence[str]
) -> list[tuple[str, LineRow]]:
    """Pension deduction lines attributed to the performers: (practice, line)."""
    result = await session.execute(
        select(Statement.ods_code, *_LINE_COLUMNS)
        .join(Statement, Statement.id == StatementLine.statement_id)
        .where(StatementLine.gmc_number.in_(gmc_numbers))
        .order_by(StatementLine.covers_from, StatementLine.id)
    )
    return [(row[0], LineRow(*row[1:])) for row in result]


async def claim_run(session: AsyncSession, run_id: str) -> PaymentRun | None:
    """The run already imported under ``run_id``, locked; None if there is none yet.

    A transaction-scoped advisory lock on the id makes two concurrent imports of one run
    queue: the second then finds the first's result.
    """
    await session.execute(select(func.pg_advisory_xact_lock(func.hashtext(literal(run_id)))))
    return await session.get(PaymentRun, run_id)


async def ensure_statements(
    session: AsyncSession, wanted: dict[tuple[str, date], tuple[date, str]]
) -> dict[tuple[str, date], int]:
    """Statement ids for (practice, period), creating the missing ones.

    Two statements for any number of keys: each column travels as one array parameter, so
    there is no per-row SQL to compile or parameter limit to chunk around.
    """
    keys = list(wanted)
    codes = [code for code, _ in keys]
    periods = [period for _, period in keys]
    new = (
        func.unnest(
            literal(codes, ARRAY(String)),
            literal(periods, ARRAY(Date)),
            literal([wanted[key][0] for key in keys], ARRAY(Date)),
            literal([wanted[key][1] for key in keys], ARRAY(String)),
        )
        .table_valued(
            column("ods_code", String),
            column("period", Date),
            column("payment_date", Date),
            column("source_system", String),
        )
        .render_derived(name="new")
    )
    await session.execute(
        pg_insert(Statement)
        .from_select(
            ["ods_code", "period", "payment_date", "source_system"],
            select(new.c.ods_code, new.c.period, new.c.payment_date, new.c.source_system),
        )
        .on_conflict_do_nothing(constraint="statement_one_per_practice_period")
    )
    # A separate statement: in READ COMMITTED it also sees a concurrent import's statements
    # that made the insert above skip a key.
    keyed = (
        func.unnest(literal(codes, ARRAY(String)), literal(periods, ARRAY(Date)))
        .table_valued(column("ods_code", String), column("period", Date))
        .render_derived(name="wanted")
    )
    result = await session.execute(
        select(Statement.ods_code, Statement.period, Statement.id).join(
            keyed,
            and_(keyed.c.ods_code == Statement.ods_code, keyed.c.period == Statement.period),
        )
    )
    return {(code, period): sid for code, period, sid in result}


async def copy_lines(
    session: AsyncSession, records: Iterable[tuple[object, ...]], columns: Sequence[str]
) -> None:
    """COPY the lines in through the session's own connection: same transaction, no ORM."""
    driver = await _driver(session)
    await driver.copy_records_to_table(
        StatementLine.__tablename__, records=records, columns=list(columns)
    )


_NEW_LINE_IDS = (
    "SELECT array_agg(nextval('statement_line_id_seq'::regclass)) FROM generate_series(1, $1)"
)


async def new_line_ids(session: AsyncSession, count: int) -> list[int]:
    """``count`` new line ids, ascending, drawn from the lines' own sequence in one round trip:
    lines written with them are known by id before they are written."""
    connection = await session.connection()
    result = await connection.exec_driver_sql(_NEW_LINE_IDS, (count,))
    ids: list[int] = list(result.scalar_one() or [])
    ids.sort()  # drawn in order; sorted all the same, which costs one pass when they are
    return ids


_LINE_COUNTS = (
    "SELECT statement_id, count(*) FROM statement_line WHERE statement_id = ANY($1::bigint[])"
    " GROUP BY statement_id"
)


async def line_counts(session: AsyncSession, statement_ids: Sequence[int]) -> dict[int, int]:
    """How many lines each statement has now (those without lines are left out)."""
    connection = await session.connection()
    result = await connection.exec_driver_sql(_LINE_COUNTS, (list(statement_ids),))
    counts: dict[int, int] = {}
    row: Any
    for row in result:
        counts[int(row[0])] = int(row[1])
    return counts


async def all_practice_codes(session: AsyncSession) -> set[str]:
    return set(await session.scalars(select(PracticeDirectory.ods_code)))


async def practices_with_statements(session: AsyncSession) -> list[str]:
    result = await session.scalars(
        select(Statement.ods_code).distinct().order_by(Statement.ods_code)
    )
    return list(result)


def _moved_on() -> ColumnElement[date]:
    """The day a line moved money: its payment, or the day a payment was taken back."""
    return case(
        (StatementLine.status == ChainStatus.REVERSED, StatementLine.reversed_on),
        else_=StatementLine.paid_on,
    )


def _moved_between(start: date, end: date) -> ColumnElement[bool]:
    return or_(
        and_(StatementLine.status == ChainStatus.PAID, StatementLine.paid_on.between(start, end)),
        and_(
            StatementLine.status == ChainStatus.REVERSED,
            StatementLine.reversed_on.between(start, end),
        ),
    )


def cash_lines(ods_code: str, start: date, end: date) -> Select[Any]:
    """A practice's lines that moved money between two days (both included), in the order the
    money moved; to stream (``session.stream``), never to load whole."""
    return (
        select(Statement.period, *_LINE_COLUMNS)
        .join(Statement, Statement.id == StatementLine.statement_id)
        .where(Statement.ods_code == ods_code, _moved_between(start, end))
        .order_by(_moved_on(), StatementLine.id)
    )


async def cash_totals(
    session: AsyncSession, codes: Sequence[str], start: date, end: date
) -> dict[str, tuple[int, int, int]]:
    """Per practice, worked out in SQL apart from the exports: (lines that moved money, money
    in, money out) in pence, money out negative."""
    moved = case(
        (StatementLine.status == ChainStatus.REVERSED, -StatementLine.amount_pence),
        else_=StatementLine.amount_pence,
    )
    result = await session.execute(
        select(
            Statement.ods_code,
            func.count().filter(moved != 0),
            func.coalesce(func.sum(moved).filter(moved > 0), 0),
            func.coalesce(func.sum(moved).filter(moved < 0), 0),
        )
        .join(Statement, Statement.id == StatementLine.statement_id)
        .where(Statement.ods_code.in_(codes), _moved_between(start, end))
        .group_by(Statement.ods_code)
    )
    return {code: (int(n), int(got), int(taken)) for code, n, got, taken in result}


async def ledger_chart_rows(
    session: AsyncSession, owner: str
) -> dict[Component, tuple[str, str, str]]:
    """(whose, code, name) of each component for ``owner``'s journals: the default chart
    (owner ``*``) with the owner's own codes over it."""
    result = await session.execute(
        select(LedgerAccount.owner, LedgerAccount.component, LedgerAccount.code, LedgerAccount.name)
        .where(LedgerAccount.owner.in_(["*", owner]))
        .order_by(LedgerAccount.owner == owner)
    )
    return {component: (who, code, name) for who, component, code, name in result}


async def ledger_chart(session: AsyncSession, owner: str) -> dict[Component, tuple[str, str]]:
    rows = await ledger_chart_rows(session, owner)
    return {component: (code, name) for component, (_who, code, name) in rows.items()}
