from __future__ import annotations

from datetime import date
from functools import partial
from typing import TYPE_CHECKING, Any

import pytest
from payments.definition import SERVICE
from payments.models import Base, Component, Statement, StatementLine
from pcse_kit.testing import running_service
from sqlalchemy import insert

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from pathlib import Path

    from fastapi import FastAPI
    from pcse_kit.postgres import EmbeddedPostgres
    from sqlalchemy import MetaData


@pytest.fixture(scope="session")
async def app(postgres: EmbeddedPostgres, public_key_file: Path) -> AsyncIterator[FastAPI]:
    async with running_service(SERVICE, postgres, public_key_file) as running:
        yield running


@pytest.fixture(scope="session")
def service_metadata() -> MetaData:
    return Base.metadata


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
                }
                for component, amount in lines
            ],
        )
    return statement_id


@pytest.fixture
def make_statement(app: FastAPI) -> Any:
    """``await make_statement(**fields)``: one committed row; defaults fill what is not given."""
    return partial(create_statement, app)
