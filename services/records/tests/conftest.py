from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import partial
from itertools import count
from typing import TYPE_CHECKING, Any

import pytest
from pcse_kit.testing import running_service
from records.definition import SERVICE
from records.models import (
    Base,
    Movement,
    MovementReason,
    MovementStatus,
    Place,
    PracticeDirectory,
    Urgency,
)
from records.service import refresh_dues
from records.timers import Targets
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


_numbers = count(1)
TEST_NHS_NUMBER = "9434765919"  # the worked example of the modulus-11 check


async def create_movement(
    app: FastAPI,
    *,
    sender: str | None = "B82002",
    receiver: str | None = "A81001",
    status: MovementStatus = MovementStatus.REQUESTED,
    requested_days_ago: int = 10,
    requested_at: datetime | None = None,
    nhs_number: str = TEST_NHS_NUMBER,
    **facts: Any,
) -> str:
    """One committed movement; ``facts`` sets any other column (``deducted_on=...``), and the
    timers' due dates follow from them as the service would set them."""
    number = f"MV{next(_numbers):08d}"
    requested = requested_at or datetime.now(UTC) - timedelta(days=requested_days_ago)
    movement = Movement(
        movement_number=number,
        nhs_number=nhs_number,
        sender_place=Place.PRACTICE if sender else Place.CENTRAL_STORAGE,
        sender_ods_code=sender,
        receiver_place=Place.PRACTICE if receiver else Place.CENTRAL_STORAGE,
        receiver_ods_code=receiver,
        reason=MovementReason.REGISTRATION_ELSEWHERE,
        urgency=Urgency.ROUTINE,
        status=status,
        requested_at=requested,
        status_changed_at=requested + timedelta(days=1),
    )
    for name, value in facts.items():
        setattr(movement, name, value)
    refresh_dues(movement, Targets())
    async with app.state.sessionmaker.begin() as session:
        session.add(movement)
    return number


@pytest.fixture
def make_movement(app: FastAPI) -> Any:
    """``await make_movement(**fields)``: one committed row; defaults fill what is not given."""
    return partial(create_movement, app)


async def create_directory_entry(
    app: FastAPI, *, ods_code: str, lmc_code: str = "kernow", name: str | None = None
) -> str:
    """What the performers stream would have told us about a practice."""
    async with app.state.sessionmaker.begin() as session:
        await session.execute(
            insert(PracticeDirectory).values(
                ods_code=ods_code, lmc_code=lmc_code, name=name or f"Practice {ods_code}"
            )
        )
    return ods_code


@pytest.fixture
def make_directory_entry(app: FastAPI) -> Any:
    return partial(create_directory_entry, app)
