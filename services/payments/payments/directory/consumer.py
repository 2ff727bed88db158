"""This service's copy of the performers directory, kept from the performers event stream.

Payments needs facts it does not own: each practice's LMC, contract (GMS, PMS or APMS; whether
it dispenses, trains registrars or opted out of out-of-hours care) and list sizes by quarter
(for the core payment, levies and QOF), who worked where and when (superannuation must stop
when a GP leaves), and list decisions (a suspended or removed GP). The consumer applies each
event exactly once, in the same transaction as the re-detection of the practice's anomalies,
so a leaver's superannuation is flagged as soon as the leaving is known. An event that changes
nothing here (the directory published again, or facts this copy already holds) judges nothing
again: a replay of the whole stream costs a write per event, not a detection.

Each side tolerates the other's absence: an event type not yet published is simply never seen,
and a field a ``practice.upserted`` does not carry leaves what is known alone (unknown, not
false).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any, Final

from pcse_kit import dates
from pcse_kit.events import Consumer, MalformedEvent
from pcse_kit.identifiers import is_gmc_number, is_practice_code
from sqlalchemy import literal_column, or_, select
from sqlalchemy.dialects.postgresql import insert as pg_insert

from payments.detection import service as detection_service
from payments.directory import repository
from payments.models import (
    DeadLetter,
    Inbox,
    PerformerMembership,
    PerformerStatusChange,
    PracticeDirectory,
    PracticeListSize,
)

if TYPE_CHECKING:
    from pcse_kit.events import Event
    from pcse_kit.service import EventWiring
    from sqlalchemy.ext.asyncio import AsyncSession

    from payments.models import Base

STREAM = "performers"
CONSUMER = "payments-directory"
CONTRACT_TYPES: Final = frozenset({"GMS", "PMS", "APMS"})
QUARTER_MONTHS: Final = frozenset({1, 4, 7, 10})
# practice.upserted's optional contract facts: payload key to column.
FLAGS: Final = {
    "dispensing": "dispensing",
    "trainingPractice": "training_practice",
    "outOfHoursOptOut": "out_of_hours_opt_out",
}


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

    A payload we cannot read is dead-lettered (``MalformedEvent``): set aside with the reason
    and alerted on, while the stream goes on; the facts it carried come again with the
    practice's, list's or performer's next event.
    """
    payload = event.payload
    try:
        if event.type == "practice.upserted":
            codes = await upsert_practice(session, payload)
        elif event.type == "practice.list_size_recorded":
            codes = await record_list_size(session, payload)
        elif event.type in {"membership.started", "membership.ended"}:
            codes = await upsert_membership(session, payload)
        elif event.type == "performer.status_changed":
            codes = await record_status_change(session, payload)
        else:
            return
    except (KeyError, TypeError, ValueError, InvalidOperation) as error:
        raise MalformedEvent(f"{event.type} payload: {error!r}") from error
    if codes:
        await detection_service.sync_anomalies(session, codes, today=dates.today())


async def _upsert(
    session: AsyncSession,
    model: type[Base],
    values: dict[str, Any],
    *,
    unchanged_if_equal: tuple[str, ...],
    **conflict: Any,
) -> bool:
    """Insert or update one row; whether anything in ``unchanged_if_equal`` changed (a new
    row always has)."""
    insert = pg_insert(model).values(values)
    table = model.__table__
    statement: Any = insert.on_conflict_do_update(
        set_=values,
        where=or_(*(table.c[k].is_distinct_from(insert.excluded[k]) for k in unchanged_if_equal)),
        **conflict,
    ).returning(literal_column("1"))
    return (await session.execute(statement)).first() is not None


def _flag(value: Any) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"not a boolean: {value!r}")
    return value


async def upsert_practice(session: AsyncSession, payload: dict[str, Any]) -> list[str]:
    code = str(payload["odsCode"])
    if not is_practice_code(code):
        raise ValueError(f"not a practice code: {code!r}")
    values: dict[str, Any] = {
        "ods_code": code,
        "name": str(payload["name"])[:200],
        "lmc_code": str(payload["lmcCode"]),
        "list_size": int(payload["listSize"]),
        "status": str(payload.get("status") or "active")[:20],
        "updated_at": datetime.now(UTC),
    }
    # Only what the event says: an older publisher's event without these keys must not turn
    # a known contract type into "unknown", nor an unknown opt-out into "no".
    if payload.get("contractType") is not None:
        contract = str(payload["contractType"]).upper()
        if contract not in CONTRACT_TYPES:
            raise ValueError(f"not a contract type: {contract!r}")
        values["contract_type"] = contract
    for key, column in FLAGS.items():
        if payload.get(key) is not None:
            values[column] = _flag(payload[key])
    if payload.get("icbCode") is not None:
        values["icb_code"] = str(payload["icbCode"])[:5]
    changed = await _upsert(
        session, PracticeDirectory, values, index_elements=["ods_code"],
        unchanged_if_equal=tuple(k for k in values if k != "updated_at"),
    )  # fmt: skip
    return [code] if changed else []


async def record_list_size(session: AsyncSession, payload: dict[str, Any]) -> list[str]:
    """One quarter's list: registered and weighted. A correction for the same quarter replaces
    the figure (the last one published is the one PCSE pays on)."""
    code = str(payload["odsCode"])
    if not is_practice_code(code):
        raise ValueError(f"not a practice code: {code!r}")
    quarter = date.fromisoformat(str(payload["quarterStart"]))
    if quarter.day != 1 or quarter.month not in QUARTER_MONTHS:
        raise ValueError(f"not the first day of a quarter: {quarter}")
    registered = int(payload["registeredPatients"])
    weighted_text = payload.get("weightedPatients")
    weighted = None if weighted_text is None else Decimal(str(weighted_text))
    if registered < 0 or (weighted is not None and (weighted < 0 or not weighted.is_finite())):
        raise ValueError("a list cannot be negative")
    values = {
        "ods_code": code,
        "quarter_start": quarter,
        "registered_patients": registered,
        "weighted_patients": None if weighted is None else weighted.quantize(Decimal("0.01")),
        "source": str(payload.get("source") or "performers: quarterly list")[:200],
        "recorded_at": datetime.now(UTC),
    }
    changed = await _upsert(
        session, PracticeListSize, values, index_elements=["ods_code", "quarter_start"],
        unchanged_if_equal=("registered_patients", "weighted_patients"),
    )  # fmt: skip
    return [code] if changed else []


async def record_status_change(session: AsyncSession, payload: dict[str, Any]) -> list[str]:
    """A list decision: the practices the GP works or worked at are judged again (pay for a
    suspended or removed GP)."""
    gmc = str(payload["gmcNumber"])
    if not is_gmc_number(gmc):
        raise ValueError("not a GMC number")
    values = {
        "gmc_number": gmc,
        "effective_date": date.fromisoformat(str(payload["effectiveDate"])),
        "from_status": str(payload.get("from") or "")[:40],
        "to_status": str(payload["to"])[:40],
        "decision": str(payload.get("decision") or "")[:200],
    }
    changed = await _upsert(
        session, PerformerStatusChange, values, constraint="performer_status_change_natural",
        unchanged_if_equal=tuple(values),
    )  # fmt: skip
    return await repository.practices_of_performer(session, gmc) if changed else []


async def upsert_membership(session: AsyncSession, payload: dict[str, Any]) -> list[str]:
    """A post started or ended: the practices whose facts changed (a corrected post that moved
    practice changes both)."""
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
    known = None
    if values["membership_id"] is not None:
        known = await session.scalar(
            select(PerformerMembership).where(
                PerformerMembership.membership_id == values["membership_id"]
            )
        )
    if known is None:
        known = await session.scalar(
            select(PerformerMembership).where(
                PerformerMembership.gmc_number == gmc,
                PerformerMembership.ods_code == code,
                PerformerMembership.start_date == values["start_date"],
            )
        )
    if known is None:
        session.add(PerformerMembership(**values))
        await session.flush()
        return [code]
    before = known.ods_code
    changed = any(getattr(known, k) != v for k, v in values.items() if k != "membership_id")
    for key, value in values.items():
        if key != "membership_id" or value is not None:
            setattr(known, key, value)
    await session.flush()
    return sorted({before, code}) if changed else []
