"""Our copy of the practice directory, kept from the performers stream.

The LMC summary needs to know which practices are in an LMC's area; performers owns that fact
and publishes ``practice.upserted`` whenever a practice enters the directory or changes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from pcse_kit.events import MalformedEvent
from pcse_kit.identifiers import is_lmc_code, is_practice_code

from records import repository

if TYPE_CHECKING:
    from pcse_kit.events import Event
    from sqlalchemy.ext.asyncio import AsyncSession

STREAM: Final = "performers"
CONSUMER: Final = "records-directory"
NAME_MAX_LENGTH: Final = 200


async def apply(session: AsyncSession, event: Event) -> None:
    """Apply one performers event; every other type is not ours to know and is skipped."""
    if event.type != "practice.upserted":
        return
    payload = event.payload
    code, lmc, name = payload.get("odsCode"), payload.get("lmcCode"), payload.get("name")
    if not (
        is_practice_code(code)
        and is_lmc_code(lmc)
        and isinstance(name, str)
        and 0 < len(name) <= NAME_MAX_LENGTH
    ):
        # Dead-lettered, like every consumer's malformed events: set aside and alerted on,
        # so that a person restores the practice's figures, while the stream goes on.
        raise MalformedEvent(f"practice.upserted event {event.event_id} is malformed")
    await repository.upsert_practice(session, ods_code=str(code), lmc_code=str(lmc), name=name)
