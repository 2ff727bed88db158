"""Deterministic demo movements: every status, in and out, for every demo practice."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from nhs_number.validate import calculate_checksum, is_valid
from sqlalchemy import exists, insert, select

from records.models import Movement, MovementReason, MovementStatus, Urgency
from records.settings import RecordsSettings

if TYPE_CHECKING:
    from collections.abc import Iterator

    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

SEED = 6
ANCHOR = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)
TEST_RANGE_PREFIX = "999"
"""NHS numbers 999 000 0000-999 999 9999 are the test range: never a real patient."""

OFF_DIRECTORY_STATUSES = {MovementStatus.IN_CENTRAL_STORAGE}


def test_nhs_numbers(rng: random.Random) -> Iterator[str]:
    """Endless valid NHS numbers from the test range, each used once."""
    seen: set[str] = set()
    while True:
        stem = f"{TEST_RANGE_PREFIX}{rng.randint(0, 999_999):06d}"
        # A stem whose check digit would be 10 yields no valid number; is_valid rejects it.
        number = f"{stem}{calculate_checksum(stem)}"
        if number not in seen and is_valid(number):
            seen.add(number)
            yield number


async def seed_demo(sessionmaker: async_sessionmaker[AsyncSession]) -> bool:
    directory = json.loads(RecordsSettings().demo_directory.read_text())
    codes = [p["odsCode"] for p in directory["practices"]]
    rng = random.Random(SEED)
    numbers = test_nhs_numbers(rng)
    statuses = list(MovementStatus)
    rows: list[dict[str, Any]] = []
    for index, code in enumerate(codes):
        for slot, status in enumerate(statuses):
            other = codes[(index + slot + 1) % len(codes)]
            outgoing = slot % 2 == 0
            sender, receiver = (code, other) if outgoing else (other, code)
            if status in OFF_DIRECTORY_STATUSES:
                sender, receiver = code, None
            requested = ANCHOR - timedelta(days=rng.randint(1, 200), hours=rng.randint(0, 23))
            changed = requested + timedelta(days=rng.randint(0, 20))
            rows.append(
                {
                    "movement_number": f"MV{index:03d}{slot:02d}{rng.randint(0, 99_999):05d}",
                    "nhs_number": next(numbers),
                    "sender_ods_code": sender,
                    "receiver_ods_code": receiver,
                    "reason": rng.choice(list(MovementReason)),
                    "urgency": Urgency.URGENT if slot % 5 == 0 else Urgency.ROUTINE,
                    "status": status,
                    "requested_at": requested,
                    "status_changed_at": min(changed, ANCHOR),
                }
            )
    async with sessionmaker.begin() as session:
        if await session.scalar(select(exists().select_from(Movement))):
            return False
        await session.execute(insert(Movement), rows)
    return True
