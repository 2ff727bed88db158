"""This service's copy of the performers directory, kept from the performers event stream.

Payments needs two facts it does not own: each practice's LMC and list size (for levies and the
global sum) and who worked where, when (superannuation must stop when a GP leaves). The
consumer applies each event exactly once, in the same transaction as the re-detection of the
practice's anomalies, so a leaver's superannuation is flagged as soon as the leaving is known.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

from pcse_kit import dates
from pcse_kit.events import Consumer, MalformedEvent
from pcse_kit.identifiers import is_gmc_number, is_practice_code
from sqlalchemy import update
from sqlalchemy.dialects.postgresql import insert as pg_insert

from payments import service
from payments.models import DeadLetter, Inbox, PerformerMembership, PracticeDirectory

if TYPE_CHECKING:
    from pcse_kit.events import Event
    from pcse_kit.service import EventWiring
    from sqlalchemy.ext.asyncio import AsyncSession


STREAM = "performers"
CONSUMER = "payments-directory"


def consumer(wiring: EventWiring) -> Consumer:
    return Consumer(
        wiring.sessionmaker,
        wiring.bus,
        name=CONSUMER,
        streams=[STREAM],
        handler=apply,
        inbox=Inbox,
        dead_letters=DeadLetter,
    )


def _day(value: Any) -> date | None:
    return None if value is None else date.fromisoformat(str(value))


async def apply(session: AsyncSession, event: Event) -> None:
    """Apply one performers event; other types are not ours to know and are skipped.

    A payload we cannot read is dead-lettered (``MalformedEvent``): set aside with the
    reason and alerted on, while the stream goes on; the facts it carried come again with
    the practice's or membership's next event.
    """
    payload = event.payload
    try:
        if event.type == "practice.upserted":
            code = await upsert_practice(session, payload)
        elif event.type in {"membership.started", "membership.ended"}:
            code = await upsert_membership(session, payload)
        else:
            return
    except (KeyError, TypeError, ValueError) as error:
        raise MalformedEvent(f"{event.type} payload: {error!r}") from error
    await service.sync_anomalies(session, [code], today=dates.today())


async def upsert_practice(session: AsyncSession, payload: dict[str, Any]) -> str:
    code = str(payload["odsCode"])
    if not is_practice_code(code):
        raise ValueError(f"not a practice code: {code!r}")
    values = {
        "ods_code": code,
        "name": str(payload["name"])[:200],
        "lmc_code": str(payload["lmcCode"]),
        "list_size": int(payload["listSize"]),
        "status": str(payload.get("status") or "active")[:20],
        "updated_at": datetime.now(UTC),
    }
    await session.execute(
        pg_insert(PracticeDirectory)
        .values(values)
        .on_conflict_do_update(index_elements=["ods_code"], set_=values)
    )
    return code


async def upsert_membership(session: AsyncSession, payload: dict[str, Any]) -> str:
    code, gmc = str(payload["odsCode"]), str(payload["gmcNumber"])
    if not is_practice_code(code) or not is_gmc_number(gmc):
        raise ValueError("not a practice code or GMC number")
    membership_id = payload.get("membershipId")
    values = {
        "membership_id": None if membership_id is None else int(membership_id),
        "gmc_number": gmc,
        "ods_code": code,
        "role": str(payload.get("role") or "")[:20],
        "start_date": _day(payload["startDate"]),
        "end_date": _day(payload.get("endDate")),
    }
    if values["membership_id"] is not None:
        updated = await session.execute(
            update(PerformerMembership)
            .where(PerformerMembership.membership_id == values["membership_id"])
            .values(values)
            .returning(PerformerMembership.id)
        )
        if updated.first() is not None:
            return code
    await session.execute(
        pg_insert(PerformerMembership)
        .values(values)
        .on_conflict_do_update(constraint="performer_membership_natural", set_=values)
    )
    return code
