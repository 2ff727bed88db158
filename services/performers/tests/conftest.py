from __future__ import annotations

from datetime import date
from functools import partial
from itertools import count
from typing import TYPE_CHECKING, Any

import pytest
from pcse_kit.testing import running_service
from performers.definition import SERVICE
from performers.models import (
    Base,
    ChangeKind,
    ChangeOutcome,
    ChangeRequest,
    ContractType,
    ListStatus,
    Lmc,
    LmcIcb,
    Membership,
    Performer,
    Practice,
    Role,
)
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


_gmc = count(1_000_001)


async def create_lmc(app: FastAPI, *, code: str = "kernow", name: str = "Kernow LMC") -> str:
    async with app.state.sessionmaker.begin() as session:
        await session.execute(insert(Lmc).values(code=code, name=name))
        await session.execute(insert(LmcIcb).values(lmc_code=code, icb_code="QT6"))
    return code


async def create_practice(
    app: FastAPI, *, ods_code: str = "A81001", lmc_code: str = "kernow", name: str = "Riverside"
) -> str:
    async with app.state.sessionmaker.begin() as session:
        await session.execute(
            insert(Practice).values(
                ods_code=ods_code,
                name=name,
                postcode="TR1 1AA",
                icb_code="QT6",
                sub_icb_code="11N",
                lmc_code=lmc_code,
                contract_type=ContractType.GMS,
                list_size=8000,
            )
        )
    return ods_code


async def create_performer(
    app: FastAPI,
    *,
    at: str | None = "A81001",
    status: ListStatus = ListStatus.INCLUDED,
    family_name: str = "Patel",
    role: Role = Role.PARTNER,
    start: date = date(2020, 1, 1),
    end: date | None = None,
    given_name: str = "Priya",
    date_of_birth: date | None = date(1980, 5, 17),
    cct_date: date | None = date(2012, 8, 1),
    gp_register_on: date | str | None = "cct",
    under_training_supervision: bool = False,
    training_programme_start: date | None = None,
    designated_body: str | None = None,
    public_list_entries: int | None = None,
) -> str:
    """A performer, working at ``at`` unless None. On the GP Register from the CCT date
    unless ``gp_register_on`` says otherwise."""
    gmc_number = f"{next(_gmc):07d}"
    async with app.state.sessionmaker.begin() as session:
        await session.execute(
            insert(Performer).values(
                gmc_number=gmc_number,
                given_name=given_name,
                family_name=family_name,
                status=status,
                date_of_birth=date_of_birth,
                cct_date=cct_date,
                gp_register_on=cct_date if gp_register_on == "cct" else gp_register_on,
                under_training_supervision=under_training_supervision,
                training_programme_start=training_programme_start,
                designated_body=designated_body,
                public_list_entries=public_list_entries,
                public_list_visible=None
                if public_list_entries is None
                else public_list_entries > 0,
                public_list_checked_on=None if public_list_entries is None else date(2026, 1, 5),
            )
        )
        if at is not None:
            await session.execute(
                insert(Membership).values(
                    gmc_number=gmc_number, ods_code=at, role=role, start_date=start, end_date=end
                )
            )
    return gmc_number


async def create_membership(
    app: FastAPI,
    *,
    gmc_number: str,
    ods_code: str,
    role: Role = Role.LOCUM,
    start: date = date(2020, 1, 1),
    end: date | None = None,
) -> None:
    async with app.state.sessionmaker.begin() as session:
        await session.execute(
            insert(Membership).values(
                gmc_number=gmc_number, ods_code=ods_code, role=role, start_date=start, end_date=end
            )
        )


_references = count(1)


async def create_change_request(
    app: FastAPI,
    *,
    gmc_number: str,
    ods_code: str | None = "A81001",
    submitted_on: date,
    kind: ChangeKind = ChangeKind.STATUS_CHANGE,
    decided_on: date | None = None,
) -> str:
    reference = f"CR-T{next(_references):08d}"
    async with app.state.sessionmaker.begin() as session:
        await session.execute(
            insert(ChangeRequest).values(
                reference=reference,
                kind=kind,
                gmc_number=gmc_number,
                ods_code=ods_code,
                requested_status=ListStatus.INCLUDED if kind is ChangeKind.STATUS_CHANGE else None,
                submitted_on=submitted_on,
                complete_on=submitted_on,
                decided_on=decided_on,
                outcome=None if decided_on is None else ChangeOutcome.APPROVED,
            )
        )
    return reference


@pytest.fixture
def make_change_request(app: FastAPI) -> Any:
    return partial(create_change_request, app)


@pytest.fixture
def make_membership(app: FastAPI) -> Any:
    return partial(create_membership, app)


@pytest.fixture
def make_lmc(app: FastAPI) -> Any:
    return partial(create_lmc, app)


@pytest.fixture
def make_practice(app: FastAPI) -> Any:
    return partial(create_practice, app)


@pytest.fixture
def make_performer(app: FastAPI) -> Any:
    return partial(create_performer, app)
