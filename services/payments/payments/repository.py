"""SQL statements of the payments service. Nothing here commits."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import (
    Date,
    Integer,
    Select,
    String,
    and_,
    bindparam,
    case,
    column,
    func,
    literal,
    or_,
    select,
    tuple_,
)
from sqlalchemy.dialects.postgresql import ARRAY, aggregate_order_by
from sqlalchemy.dialects.postgresql import insert as pg_insert

from payments.models import (
    AccountantConsent,
    Anomaly,
    AnomalyKind,
    ChainStatus,
    Component,
    DeadlineRule,
    Dispute,
    DisputeEvent,
    LineRow,
    LocumPensionForm,
    Paycode,
    PaymentRun,
    PensionCertificate,
    PensionEstimate,
    PerformerMembership,
    PracticeDirectory,
    PublishedTotal,
    PublishedYear,
    QofDeclaration,
    Rate,
    Statement,
    StatementLine,
    StatementRow,
    TraineePlacement,
)

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence
    from datetime import date

    from sqlalchemy.ext.asyncio import AsyncSession


# The statements of the request path are built once, not per call: building a select and
# its cache key cost more than running it. Lists go in as expanding parameters.


def _latest_statements(*, before: bool) -> Select[int, str, date, date, str]:
    ranked = select(
        Statement.id,
        func.row_number()
        .over(partition_by=Statement.ods_code, order_by=Statement.period.desc())
        .label("rank"),
    ).where(Statement.ods_code.in_(bindparam("codes", expanding=True)))
    if before:
        ranked = ranked.where(Statement.period < bindparam("before", type_=Date))
    ranked_sq = ranked.subquery()
    return (
        select(
            Statement.id,
            Statement.ods_code,
            Statement.period,
            Statement.payment_date,
            Statement.source_system,
        )
        .join(ranked_sq, ranked_sq.c.id == Statement.id)
        .where(ranked_sq.c.rank <= bindparam("limit", type_=Integer))
        .order_by(Statement.ods_code, Statement.period.desc())
    )


_LATEST_STATEMENTS = _latest_statements(before=False)
_LATEST_STATEMENTS_BEFORE = _latest_statements(before=True)
_LINE_COLUMNS = tuple(StatementLine.__table__.c[name] for name in LineRow._fields)
_LINES_OF_STATEMENTS = (
    select(*_LINE_COLUMNS)
    .where(StatementLine.statement_id.in_(bindparam("ids", expanding=True)))
    .order_by(StatementLine.statement_id, StatementLine.id)
)
_LINES_BY_ID = select(*_LINE_COLUMNS).where(StatementLine.id.in_(bindparam("ids", expanding=True)))


async def latest_statements(
    session: AsyncSession, codes: Sequence[str], *, before: date | None, limit: int
) -> list[StatementRow]:
    """Up to ``limit`` statements per practice, newest period first, older than ``before``.

    One statement for any number of practices: a window per practice, not a query each.
    """
    params: dict[str, object] = {"codes": codes, "limit": limit}
    if before is None:
        result = await session.execute(_LATEST_STATEMENTS, params)
    else:
        result = await session.execute(_LATEST_STATEMENTS_BEFORE, {**params, "before": before})
    return [StatementRow(*row) for row in result]


async def lines_of_statements(session: AsyncSession, statement_ids: Sequence[int]) -> list[LineRow]:
    result = await session.execute(_LINES_OF_STATEMENTS, {"ids": statement_ids})
    return [LineRow(*row) for row in result]


async def active_consents(
    session: AsyncSession, pairs: Sequence[tuple[str, str]]
) -> set[tuple[str, str]]:
    """Which (accountant, practice) pairs have an active consent now."""
    result = await session.execute(
        select(AccountantConsent.accountant_id, AccountantConsent.ods_code).where(
            tuple_(AccountantConsent.accountant_id, AccountantConsent.ods_code).in_(pairs),
            AccountantConsent.revoked_at.is_(None),
        )
    )
    return {(accountant, code) for accountant, code in result}


async def consents(
    session: AsyncSession, *, ods_codes: Sequence[str] | None, accountant_id: str | None
) -> list[AccountantConsent]:
    """Every grant (active or revoked), newest first, for some practices or one accountant."""
    statement = select(AccountantConsent).order_by(
        AccountantConsent.granted_at.desc(), AccountantConsent.id.desc()
    )
    if ods_codes is not None:
        statement = statement.where(AccountantConsent.ods_code.in_(ods_codes))
    if accountant_id is not None:
        statement = statement.where(AccountantConsent.accountant_id == accountant_id)
    return list(await session.scalars(statement))


async def statement_for(session: AsyncSession, ods_code: str, period: date) -> Statement | None:
    return await session.scalar(
        select(Statement).where(Statement.ods_code == ods_code, Statement.period == period)
    )


async def lines_by_id(session: AsyncSession, ids: Sequence[int]) -> list[LineRow]:
    return [LineRow(*row) for row in await session.execute(_LINES_BY_ID, {"ids": ids})]


async def lines_of_practices(
    session: AsyncSession, codes: Sequence[str]
) -> list[tuple[str, LineRow]]:
    """Every line of the practices' statements, for detection: (practice, line)."""
    result = await session.execute(
        select(Statement.ods_code, *_LINE_COLUMNS)
        .join(Statement, Statement.id == StatementLine.statement_id)
        .where(Statement.ods_code.in_(codes))
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


async def rates(session: AsyncSession) -> tuple[list[Rate], list[DeadlineRule]]:
    rate_rows = await session.scalars(
        select(Rate).order_by(Rate.kind, Rate.scope, Rate.effective_from, Rate.band_from_pence)
    )
    rules = await session.scalars(select(DeadlineRule).order_by(DeadlineRule.kind))
    return list(rate_rows), list(rules)


async def directory(session: AsyncSession, codes: Sequence[str]) -> list[PracticeDirectory]:
    return list(
        await session.scalars(
            select(PracticeDirectory).where(PracticeDirectory.ods_code.in_(codes))
        )
    )


async def known_practices(session: AsyncSession, codes: Iterable[str]) -> set[str]:
    result = await session.scalars(
        select(PracticeDirectory.ods_code).where(PracticeDirectory.ods_code.in_(list(codes)))
    )
    return set(result)


async def practices_of_lmc(session: AsyncSession, lmc_code: str) -> list[str]:
    result = await session.scalars(
        select(PracticeDirectory.ods_code)
        .where(PracticeDirectory.lmc_code == lmc_code)
        .order_by(PracticeDirectory.ods_code)
    )
    return list(result)


async def declarations(session: AsyncSession, codes: Sequence[str]) -> list[QofDeclaration]:
    return list(
        await session.scalars(
            select(QofDeclaration)
            .where(QofDeclaration.ods_code.in_(codes))
            .order_by(QofDeclaration.ods_code, QofDeclaration.financial_year.desc())
        )
    )


async def placements(session: AsyncSession, codes: Sequence[str]) -> list[TraineePlacement]:
    return list(
        await session.scalars(
            select(TraineePlacement)
            .where(TraineePlacement.ods_code.in_(codes))
            .order_by(TraineePlacement.starts_on, TraineePlacement.id)
        )
    )


async def estimates(
    session: AsyncSession,
    *,
    codes: Sequence[str] | None = None,
    gmc_numbers: Sequence[str] | None = None,
) -> list[PensionEstimate]:
    statement = select(PensionEstimate).order_by(
        PensionEstimate.gmc_number, PensionEstimate.financial_year, PensionEstimate.ods_code
    )
    if codes is not None:
        statement = statement.where(PensionEstimate.ods_code.in_(codes))
    if gmc_numbers is not None:
        statement = statement.where(PensionEstimate.gmc_number.in_(gmc_numbers))
    return list(await session.scalars(statement))


async def pay_across_posts(
    session: AsyncSession, gmc_numbers: Sequence[str]
) -> dict[tuple[str, int], int]:
    """Each performer's estimated pensionable pay per year over all posts: it sets the tier."""
    result = await session.execute(
        select(
            PensionEstimate.gmc_number,
            PensionEstimate.financial_year,
            func.sum(PensionEstimate.pensionable_pay_pence),
        )
        .where(PensionEstimate.gmc_number.in_(gmc_numbers))
        .group_by(PensionEstimate.gmc_number, PensionEstimate.financial_year)
    )
    return {(gmc, year): int(total) for gmc, year, total in result}


async def memberships(
    session: AsyncSession,
    *,
    codes: Sequence[str] | None = None,
    gmc_numbers: Sequence[str] | None = None,
) -> list[PerformerMembership]:
    statement = select(PerformerMembership).order_by(
        PerformerMembership.gmc_number, PerformerMembership.start_date
    )
    if codes is not None:
        statement = statement.where(PerformerMembership.ods_code.in_(codes))
    if gmc_numbers is not None:
        statement = statement.where(PerformerMembership.gmc_number.in_(gmc_numbers))
    return list(await session.scalars(statement))


async def certificates(
    session: AsyncSession, gmc_numbers: Sequence[str]
) -> list[PensionCertificate]:
    return list(
        await session.scalars(
            select(PensionCertificate)
            .where(PensionCertificate.gmc_number.in_(gmc_numbers))
            .order_by(PensionCertificate.financial_year, PensionCertificate.id)
        )
    )


async def locum_forms(session: AsyncSession, gmc_numbers: Sequence[str]) -> list[LocumPensionForm]:
    return list(
        await session.scalars(
            select(LocumPensionForm)
            .where(LocumPensionForm.gmc_number.in_(gmc_numbers))
            .order_by(LocumPensionForm.work_from, LocumPensionForm.id)
        )
    )


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


# --- anomalies


async def open_anomalies(session: AsyncSession, codes: Sequence[str]) -> list[Anomaly]:
    return list(
        await session.scalars(
            select(Anomaly)
            .where(Anomaly.ods_code.in_(codes), Anomaly.resolved_at.is_(None))
            .with_for_update()
        )
    )


async def anomalies_page(
    session: AsyncSession,
    codes: Sequence[str],
    *,
    open_only: bool,
    kind: AnomalyKind | None,
    after: int | None,
    limit: int,
) -> list[Anomaly]:
    """Newest first by id; a window per practice, so any number of practices is one query."""
    ranked = select(
        Anomaly.id,
        func.row_number()
        .over(partition_by=Anomaly.ods_code, order_by=Anomaly.id.desc())
        .label("rank"),
    ).where(Anomaly.ods_code.in_(codes))
    if open_only:
        ranked = ranked.where(Anomaly.resolved_at.is_(None))
    if kind is not None:
        ranked = ranked.where(Anomaly.kind == kind)
    if after is not None:
        ranked = ranked.where(Anomaly.id < after)
    ranked_sq = ranked.subquery()
    return list(
        await session.scalars(
            select(Anomaly)
            .join(ranked_sq, ranked_sq.c.id == Anomaly.id)
            .where(ranked_sq.c.rank <= limit)
            .order_by(Anomaly.ods_code, Anomaly.id.desc())
        )
    )


async def anomalies_by_id(session: AsyncSession, ids: Sequence[int]) -> list[Anomaly]:
    return list(await session.scalars(select(Anomaly).where(Anomaly.id.in_(ids))))


async def anomaly_summary(
    session: AsyncSession, codes: Sequence[str]
) -> list[tuple[AnomalyKind, int, int, list[str]]]:
    """Open anomalies by kind: (kind, count, amount at stake, the practices affected)."""
    result = await session.execute(
        select(
            Anomaly.kind,
            func.count(),
            func.coalesce(func.sum(Anomaly.amount_at_stake_pence), 0),
            func.array_agg(aggregate_order_by(Anomaly.ods_code.distinct(), Anomaly.ods_code)),
        )
        .where(Anomaly.ods_code.in_(codes), Anomaly.resolved_at.is_(None))
        .group_by(Anomaly.kind)
    )
    return [
        (kind, count, int(amount), list(practices)) for kind, count, amount, practices in result
    ]


# --- disputes


async def disputes_of_practices(session: AsyncSession, codes: Sequence[str]) -> list[Dispute]:
    return list(
        await session.scalars(
            select(Dispute)
            .where(Dispute.ods_code.in_(codes))
            .order_by(Dispute.ods_code, Dispute.opened_at.desc(), Dispute.id.desc())
        )
    )


async def dispute_by_reference(session: AsyncSession, reference: str) -> Dispute | None:
    return await session.scalar(select(Dispute).where(Dispute.reference == reference))


async def dispute_events(session: AsyncSession, dispute_ids: Sequence[int]) -> list[DisputeEvent]:
    return list(
        await session.scalars(
            select(DisputeEvent)
            .where(DisputeEvent.dispute_id.in_(dispute_ids))
            .order_by(DisputeEvent.dispute_id, DisputeEvent.id)
        )
    )


# --- payment runs


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
    connection = await session.connection()
    raw = await connection.get_raw_connection()
    driver = raw.driver_connection
    if driver is None:  # pragma: no cover - a pooled connection always has its driver's
        raise RuntimeError("no asyncpg connection under the session")
    await driver.copy_records_to_table(
        StatementLine.__tablename__, records=records, columns=list(columns)
    )


async def lock_practices(session: AsyncSession, codes: Sequence[str]) -> None:
    """Transaction-scoped locks on the practices, always taken in code order (no deadlock)."""
    for code in sorted(codes):
        await session.execute(
            select(func.pg_advisory_xact_lock(func.hashtext(literal(f"payments:{code}"))))
        )


async def all_practice_codes(session: AsyncSession) -> set[str]:
    return set(await session.scalars(select(PracticeDirectory.ods_code)))


async def practices_with_statements(session: AsyncSession) -> list[str]:
    result = await session.scalars(
        select(Statement.ods_code).distinct().order_by(Statement.ods_code)
    )
    return list(result)


# --- the published data set


async def claim_published_year(session: AsyncSession, year: int) -> PublishedYear | None:
    """The year already imported, if any; concurrent imports of one year queue here."""
    await session.execute(
        select(func.pg_advisory_xact_lock(func.hashtext(literal(f"published:{year}"))))
    )
    return await session.get(PublishedYear, year)


async def copy_published(session: AsyncSession, records: Sequence[tuple[object, ...]]) -> None:
    connection = await session.connection()
    raw = await connection.get_raw_connection()
    driver = raw.driver_connection
    if driver is None:  # pragma: no cover - a pooled connection always has its driver's
        raise RuntimeError("no asyncpg connection under the session")
    await driver.copy_records_to_table(
        PublishedTotal.__tablename__,
        records=records,
        columns=["financial_year", "ods_code", "measure", "amount_pence", "heading"],
    )


async def published_totals(session: AsyncSession, codes: Sequence[str]) -> list[PublishedTotal]:
    return list(
        await session.scalars(
            select(PublishedTotal)
            .where(PublishedTotal.ods_code.in_(codes))
            .order_by(PublishedTotal.financial_year.desc(), PublishedTotal.measure)
        )
    )


async def cash_by_component(
    session: AsyncSession, codes: Sequence[str], *, start: date, end: date
) -> list[tuple[str, Component, int]]:
    """What each practice's lines moved between two days, by component: a payment on the day
    it was paid, a reversal on the day it was reversed (the data set is cash basis)."""
    paid = and_(StatementLine.status == ChainStatus.PAID, StatementLine.paid_on.between(start, end))
    reversed_ = and_(
        StatementLine.status == ChainStatus.REVERSED,
        StatementLine.reversed_on.between(start, end),
    )
    effect = func.sum(
        case(
            (paid, StatementLine.amount_pence),
            (reversed_, -StatementLine.amount_pence),
            else_=0,
        )
    )
    result = await session.execute(
        select(Statement.ods_code, StatementLine.component, effect)
        .join(Statement, Statement.id == StatementLine.statement_id)
        .where(Statement.ods_code.in_(codes), or_(paid, reversed_))
        .group_by(Statement.ods_code, StatementLine.component)
    )
    return [(code, component, int(total)) for code, component, total in result]
