"""Writing a practice's registrations: a whole export by COPY, or one fact keyed in.

Each new fact is published on the records stream (``registration.registered`` or
``registration.deducted``: the practice, the day, the reason; never the patient), and what it
shows is found at once (``records.detection``), in the same transaction.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Final

from pcse_kit import audit
from pcse_kit.events import OUTBOX_CHANNEL
from sqlalchemy import func, literal, select, text

from records import detection, policy, registrations
from records.models import AuditEvent, IdempotencyKey, Registration, RegistrationFile

if TYPE_CHECKING:
    from collections.abc import Sequence
    from datetime import date

    from pcse_kit.auth import Principal
    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

STREAM: Final = detection.STREAM
MAX_FILE_CHARACTERS: Final = 60_000
"""What fits in one request through the gateway (64 KiB); larger exports go by the command
line (``python -m records import-registrations``)."""


@dataclass(frozen=True)
class Loaded:
    ods_code: str
    rows: int
    added: int
    """Facts new to the service; the rest were known from an earlier export."""
    opened: dict[str, int] = field(default_factory=dict)
    """Incidents raised from them, by kind."""
    resolved: int = 0
    replayed: bool = False
    registration_ids: list[int] = field(default_factory=list)


async def _lock(session: AsyncSession, ods_code: str) -> None:
    """One load per practice at a time, so a file sent twice at once is loaded once."""
    await session.execute(
        select(func.pg_advisory_xact_lock(func.hashtext(literal(f"registrations:{ods_code}"))))
    )


async def load_rows(
    session: AsyncSession,
    *,
    ods_code: str,
    rows: Sequence[registrations.ParsedRegistration],
    file_id: int | None,
    recorded_by: str,
) -> list[int]:
    """COPY the facts into a staging table, keep the new ones, and publish them; the ids of
    the new ones (a fact already known, from this file or an earlier one, is kept once)."""
    await session.execute(
        text(
            "CREATE TEMP TABLE IF NOT EXISTS registration_in (ods_code varchar(9), "
            "nhs_number varchar(10), event varchar(32), effective_on date, reason varchar(32), "
            "removal_requested_on date, fp69_flagged_on date, under_18 boolean) "
            "ON COMMIT DELETE ROWS"
        )
    )
    await session.execute(text("TRUNCATE registration_in"))
    connection = await session.connection()
    raw = await connection.get_raw_connection()
    driver = raw.driver_connection
    if driver is None:  # pragma: no cover - a pooled connection always has its driver's
        raise RuntimeError("no asyncpg connection under the session")
    await driver.copy_records_to_table(
        "registration_in",
        records=[row.record(ods_code) for row in rows],
        columns=list(registrations.STAGED_COLUMNS),
    )
    added = await session.execute(
        text("""
        INSERT INTO registration (ods_code, nhs_number, event, effective_on, reason,
                                  removal_requested_on, fp69_flagged_on, under_18, file_id,
                                  recorded_by)
        SELECT DISTINCT ON (ods_code, nhs_number, event, effective_on)
               ods_code, nhs_number, event, effective_on, reason, removal_requested_on,
               fp69_flagged_on, under_18, :file_id, :recorded_by
          FROM registration_in
         ORDER BY ods_code, nhs_number, event, effective_on
        ON CONFLICT ON CONSTRAINT uq_registration_fact DO NOTHING
        RETURNING id
        """),
        {"file_id": file_id, "recorded_by": recorded_by},
    )
    new = list(added.scalars())
    if new:
        await session.execute(
            text(f"""
            INSERT INTO outbox (event_id, stream, type, key, payload, trace_context)
            SELECT gen_random_uuid(), '{STREAM}', 'registration.' || r.event, r.ods_code,
                   jsonb_build_object(
                       'registrationId', r.id, 'odsCode', r.ods_code, 'event', r.event,
                       'effectiveOn', r.effective_on, 'reason', r.reason,
                       'source', CASE WHEN r.file_id IS NULL THEN 'keyed' ELSE 'file' END),
                   CAST(:trace AS jsonb)
              FROM registration r WHERE r.id = ANY(CAST(:ids AS bigint[]))
             ORDER BY r.effective_on, r.id
            RETURNING pg_notify('{OUTBOX_CHANNEL}', '{STREAM}')
            """),  # noqa: S608 - our own SQL, values bound
            {"ids": new, "trace": detection.trace_context()},
        )
    return new


async def import_registrations(
    sessionmaker: async_sessionmaker[AsyncSession],
    principal: Principal,
    *,
    ods_code: str,
    csv_text: str,
    today: date,
    rules: registrations.Rules | None = None,
    idempotency_key: str | None = None,
) -> Loaded:
    """Load a practice's export, all or nothing; the same file again returns the first load's
    result and changes nothing."""
    policy.record_registrations(principal, ods_code)
    parsed = registrations.parse(csv_text, today=today)
    async with sessionmaker.begin() as session:
        if idempotency_key is not None:
            replay = await audit.claim(
                session,
                IdempotencyKey,
                actor=principal,
                key=idempotency_key,
                operation="importPatientRegistrations",
                request={"odsCode": ods_code, "digest": parsed.digest},
            )
            if replay is not None:
                return Loaded(**{**replay, "replayed": True})
        await _lock(session, ods_code)
        existing = await session.scalar(
            select(RegistrationFile).where(
                RegistrationFile.ods_code == ods_code, RegistrationFile.digest == parsed.digest
            )
        )
        if existing is not None:
            result = Loaded(
                ods_code=ods_code, rows=existing.rows, added=existing.added, replayed=True
            )
        else:
            loaded = RegistrationFile(
                ods_code=ods_code,
                digest=parsed.digest,
                rows=len(parsed.rows),
                added=0,
                loaded_by=principal.subject,
            )
            session.add(loaded)
            await session.flush()
            new = await load_rows(
                session,
                ods_code=ods_code,
                rows=parsed.rows,
                file_id=loaded.id,
                recorded_by=principal.subject,
            )
            loaded.added = len(new)
            found = await detection.detect(
                session, principal, today=today, rules=rules, codes=[ods_code]
            )
            result = Loaded(
                ods_code=ods_code,
                rows=loaded.rows,
                added=loaded.added,
                opened=found.opened,
                resolved=found.resolved,
            )
            await audit.record(
                session,
                AuditEvent,
                actor=principal,
                action="import_registrations",
                entity="registration_file",
                key=f"{ods_code}/{loaded.id}",
                before=None,
                after={
                    "odsCode": ods_code,
                    "digest": parsed.digest,
                    "rows": loaded.rows,
                    "added": loaded.added,
                    "opened": found.opened,
                    "resolved": found.resolved,
                },
            )
        if idempotency_key is not None:
            response = asdict(result)
            response.pop("replayed")
            await audit.remember(
                session, IdempotencyKey, actor=principal, key=idempotency_key, response=response
            )
    return result


async def record_registration(
    sessionmaker: async_sessionmaker[AsyncSession],
    principal: Principal,
    *,
    ods_code: str,
    fact: registrations.ParsedRegistration,
    today: date,
    rules: registrations.Rules | None = None,
    idempotency_key: str,
) -> int:
    """One registration or deduction keyed in; the fact already known is kept once. Its id."""
    policy.record_registrations(principal, ods_code)

    async def write(session: AsyncSession) -> dict[str, Any]:
        await _lock(session, ods_code)
        await load_rows(
            session, ods_code=ods_code, rows=[fact], file_id=None, recorded_by=principal.subject
        )
        registration_id = await session.scalar(
            select(Registration.id).where(
                Registration.ods_code == ods_code,
                Registration.nhs_number == fact.nhs_number,
                Registration.event == fact.event,
                Registration.effective_on == fact.effective_on,
            )
        )
        assert registration_id is not None
        found = await detection.detect(
            session, principal, today=today, rules=rules, patients=[fact.nhs_number]
        )
        await audit.record(
            session,
            AuditEvent,
            actor=principal,
            action="record_registration",
            entity="registration",
            key=str(registration_id),
            before=None,
            after={
                "odsCode": ods_code,
                "event": fact.event.value,
                "effectiveOn": fact.effective_on.isoformat(),
                "reason": fact.reason.value,
                "opened": found.opened,
                "resolved": found.resolved,
            },
        )
        return {"registrationId": registration_id}

    response = await audit.once(
        sessionmaker,
        IdempotencyKey,
        actor=principal,
        key=idempotency_key,
        operation="recordPatientRegistration",
        request={
            "odsCode": ods_code,
            # A digest of the request is stored with the key; the NHS number only as part of it.
            "nhsNumber": fact.nhs_number,
            "event": fact.event.value,
            "effectiveOn": fact.effective_on.isoformat(),
            "reason": fact.reason.value,
            "removalRequestedOn": None
            if fact.removal_requested_on is None
            else fact.removal_requested_on.isoformat(),
            "fp69FlaggedOn": None
            if fact.fp69_flagged_on is None
            else fact.fp69_flagged_on.isoformat(),
            "under18": fact.under_18,
        },
        write=write,
    )
    return int(response["registrationId"])
