from __future__ import annotations

from datetime import date
from functools import partial
from typing import TYPE_CHECKING, Any

import pytest
from payments.definition import SERVICE
from payments.models import (
    Base,
    ChainStatus,
    Component,
    PerformerMembership,
    PracticeDirectory,
    PracticeListSize,
    Rate,
    RateKind,
    Statement,
    StatementLine,
)
from payments.rates import month_end
from pcse_kit.testing import client_for, owner_engine, running_service
from sqlalchemy import insert, select, text

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from decimal import Decimal
    from pathlib import Path

    import httpx
    from fastapi import FastAPI
    from pcse_kit.postgres import EmbeddedPostgres
    from pcse_kit.testing import Token
    from sqlalchemy import MetaData, Table


@pytest.fixture(scope="session")
async def app(postgres: EmbeddedPostgres, public_key_file: Path) -> AsyncIterator[FastAPI]:
    async with running_service(SERVICE, postgres, public_key_file) as running:
        yield running


@pytest.fixture(scope="session")
def service_metadata() -> MetaData:
    return Base.metadata


def _reference(metadata: MetaData) -> list[Table]:
    return [t for t in metadata.sorted_tables if t.info.get("reference")]


@pytest.fixture(scope="session")
async def reference_rows(app: FastAPI, service_metadata: MetaData) -> dict[str, list[Any]]:
    """The reference data the migrations seeded (paycodes, rates, deadlines), as migrated."""
    async with app.state.engine.connect() as connection:
        # Without surrogate ids: the sequences restart with the truncation and number them again.
        return {
            table.name: [
                {k: v for k, v in row._mapping.items() if k != "id"}
                for row in await connection.execute(select(table))
            ]
            for table in _reference(service_metadata)
        }


@pytest.fixture
async def client(
    app: FastAPI,
    service_metadata: MetaData,
    token: Token,
    reference_rows: dict[str, list[Any]],
) -> AsyncIterator[httpx.AsyncClient]:
    """kit's client, but the migrations' reference data is put back after each test."""
    async with client_for(app) as http:
        http.headers["authorization"] = f"Bearer {token('admin')}"
        yield http
    tables = ", ".join(f'"{t.name}"' for t in service_metadata.sorted_tables)
    async with owner_engine(app).begin() as connection:
        await connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
        for table in _reference(service_metadata):
            if reference_rows[table.name]:
                await connection.execute(insert(table), reference_rows[table.name])


DEFAULT_LINES: tuple[tuple[Component, int], ...] = (
    (Component.GLOBAL_SUM, 10_000_00),
    (Component.QOF_ASPIRATION, 1_234_56),
    (Component.EMPLOYEE_SUPERANNUATION, -98_76),
    (Component.LMC_STATUTORY_LEVY, -12_34),
)


async def create_statement(
    app: FastAPI,
    *,
    ods_code: str = "A81001",
    period: date = date(2026, 10, 1),
    lines: tuple[tuple[Component, int], ...] = DEFAULT_LINES,
) -> int:
    async with app.state.sessionmaker.begin() as session:
        statement_id: int = await session.scalar(
            insert(Statement)
            .values(
                ods_code=ods_code,
                period=period,
                payment_date=period.replace(day=28),
                source_system="PCSE Online",
            )
            .returning(Statement.id)
        )
        await session.execute(
            insert(StatementLine),
            [
                {
                    "statement_id": statement_id,
                    "component": component,
                    "paycode": component.name[:8],
                    "description": component.value,
                    "amount_pence": amount,
                    "covers_from": period,
                    "covers_to": month_end(period),
                    "source_system": "PCSE Online",
                    "paid_on": period.replace(day=28),
                }
                for component, amount in lines
            ],
        )
    return statement_id


async def create_line(
    app: FastAPI,
    *,
    ods_code: str = "A81001",
    period: date,
    component: Component,
    amount: int,
    paycode: str | None = None,
    covers_from: date | None = None,
    covers_to: date | None = None,
    paid_on: date | None = None,
    status: ChainStatus = ChainStatus.PAID,
    gmc_number: str | None = None,
) -> int:
    """One line on the practice's statement for ``period`` (made if missing); its id."""
    async with app.state.sessionmaker.begin() as session:
        statement_id = await session.scalar(
            select(Statement.id).where(Statement.ods_code == ods_code, Statement.period == period)
        )
        if statement_id is None:
            statement_id = await session.scalar(
                insert(Statement)
                .values(
                    ods_code=ods_code,
                    period=period,
                    payment_date=month_end(period),
                    source_system="PCSE Online",
                )
                .returning(Statement.id)
            )
        paid = paid_on or month_end(period)
        line_id: int = await session.scalar(
            insert(StatementLine)
            .values(
                statement_id=statement_id,
                component=component,
                paycode=paycode or {"global_sum": "GSUM"}.get(component.value, component.name[:8]),
                description=component.value,
                amount_pence=amount,
                covers_from=covers_from or period,
                covers_to=covers_to or month_end(covers_from or period),
                source_system="PCSE Online",
                status=status,
                paid_on=paid if status in {ChainStatus.PAID, ChainStatus.REVERSED} else None,
                reversed_on=paid if status is ChainStatus.REVERSED else None,
                failed_on=paid if status is ChainStatus.FAILED else None,
                gmc_number=gmc_number,
            )
            .returning(StatementLine.id)
        )
    return line_id


async def create_practice(
    app: FastAPI,
    *,
    ods_code: str = "A81001",
    lmc_code: str = "kernow",
    list_size: int = 12_000,
    contract_type: str | None = "GMS",
    out_of_hours_opt_out: bool | None = False,
    training_practice: bool | None = None,
) -> str:
    async with app.state.sessionmaker.begin() as session:
        await session.execute(
            insert(PracticeDirectory).values(
                ods_code=ods_code,
                name=f"Practice {ods_code}",
                lmc_code=lmc_code,
                list_size=list_size,
                status="active",
                contract_type=contract_type,
                out_of_hours_opt_out=out_of_hours_opt_out,
                training_practice=training_practice,
            )
        )
    return ods_code


async def create_list_size(
    app: FastAPI,
    *,
    quarter: date,
    registered: int,
    weighted: Decimal | None,
    ods_code: str = "A81001",
) -> None:
    """One quarter's list, as the performers stream records it."""
    async with app.state.sessionmaker.begin() as session:
        await session.execute(
            insert(PracticeListSize).values(
                ods_code=ods_code, quarter_start=quarter, registered_patients=registered,
                weighted_patients=weighted, source="test",
            )
        )  # fmt: skip


async def create_membership(
    app: FastAPI,
    *,
    gmc_number: str,
    ods_code: str = "A81001",
    start: date = date(2015, 1, 1),
    end: date | None = None,
) -> None:
    async with app.state.sessionmaker.begin() as session:
        await session.execute(
            insert(PerformerMembership).values(
                gmc_number=gmc_number,
                ods_code=ods_code,
                role="partner",
                start_date=start,
                end_date=end,
            )
        )


async def create_rate(
    app: FastAPI,
    *,
    kind: RateKind,
    value: Decimal,
    scope: str = "",
    since: date = date(2020, 4, 1),
    decided_on: date | None = None,
    settle_by: date | None = None,
) -> None:
    async with app.state.sessionmaker.begin() as session:
        await session.execute(
            insert(Rate).values(
                kind=kind, scope=scope, effective_from=since, value=value, source="test",
                decided_on=decided_on, settle_by=settle_by,
            )
        )  # fmt: skip


@pytest.fixture
def make_statement(app: FastAPI) -> Any:
    """``await make_statement(**fields)``: one committed row; defaults fill what is not given."""
    return partial(create_statement, app)


@pytest.fixture
def make_line(app: FastAPI) -> Any:
    return partial(create_line, app)


@pytest.fixture
def make_practice(app: FastAPI) -> Any:
    return partial(create_practice, app)


@pytest.fixture
def make_membership(app: FastAPI) -> Any:
    return partial(create_membership, app)


@pytest.fixture
def make_rate(app: FastAPI) -> Any:
    return partial(create_rate, app)


@pytest.fixture
def make_list_size(app: FastAPI) -> Any:
    return partial(create_list_size, app)
