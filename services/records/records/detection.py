"""What the registrations show, found automatically and set-based, in the caller's transaction.

From the practices' registrations and the movements of their patients' records:

- **record not received**: a patient registered here (a transfer from another practice) for
  ``Rules.record_due_weeks`` whose record has nothing on its way: no movement to this practice
  that has a label or has gone past "requested" (a patient back at a practice that deducted
  them, whose record was never collected from it, needs none);
- **erroneous archiving**: a patient registered at a practice for as long, whose record's latest
  movement left it in central storage (the 148,000 records of 2019): an incident and an item
  on the practice's harm-review worklist;
- **incorrect removal**: a deduction nothing explains: not a death or emigration, not a removal
  the practice asked for, not an FP69 deduction after its notice (never of a child), not a
  transfer with the patient registering elsewhere or the record moving out around it.

Each is raised once, with its history, audit row and ``incident.opened`` event; each clears
itself when the facts change (the record arrives or is released, the patient is registered
again) with ``incident.resolved``. A patient is registered where their latest registration
(across every practice) is, unless that practice has deducted them since: a practice that has
not sent its deductions yet cannot make a patient look registered twice, and a deduction from
the old practice, a day after the new one registered the patient, does not end the new one.

Run for the patients a change touched (a registration file, a feed, a mutation) and, because
time alone turns a registration into a problem, daily for everyone (``python -m records
detect``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import timedelta
from functools import cache
from typing import TYPE_CHECKING, Any, Final

from pcse_kit import events
from pcse_kit.events import OUTBOX_CHANNEL
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy import text

from records.registrations import FP69_NOTICE, Rules

if TYPE_CHECKING:
    from collections.abc import Sequence
    from datetime import date

    from pcse_kit.auth import Principal
    from sqlalchemy.ext.asyncio import AsyncSession

STREAM: Final = "records"
LONDON: Final = "'Europe/London'"
IN_STORAGE: Final = (
    "(s.status = 'in_central_storage' OR (s.receiver_place = 'central_storage' "
    "AND s.status IN ('delivered', 'in_storage_at_practice')))"
)
"""The latest movement ``s`` of a patient's record left it in central storage."""
# A movement that shows the record is on its way: labelled, or past "requested".
ON_ITS_WAY: Final = f"""
    SELECT 1 FROM movement m
     WHERE m.nhs_number = l.nhs_number AND m.receiver_ods_code = l.ods_code
       AND m.status <> 'cancelled'
       AND (m.label_issued_on IS NOT NULL OR m.status <> 'requested')
       AND (m.requested_at AT TIME ZONE {LONDON})::date
           >= l.effective_on - CAST(:evidence_days AS integer)
"""
RETURNED: Final = """
    EXISTS (SELECT 1 FROM registration d
             WHERE d.nhs_number = l.nhs_number AND d.ods_code = l.ods_code
               AND d.event = 'deducted' AND d.effective_on <= l.effective_on)
    AND NOT EXISTS (SELECT 1 FROM movement o
                     WHERE o.nhs_number = l.nhs_number AND o.sender_ods_code = l.ods_code
                       AND o.collected_at IS NOT NULL)
"""
"""A patient ``l`` back at a practice that deducted them, whose record was never collected from
it: the record is still there, and nothing needs to come."""
DETAIL: Final = {
    "record_not_received": "Registered here for {weeks} weeks with no record on its way: no "
    "movement to this practice with a label, or further along than requested.",
    "erroneous_archiving": "The record is in central storage, though the patient has been "
    "registered here for {weeks} weeks.",
    "incorrect_removal": "Deducted without a request from the practice, and no transfer, "
    "death or emigration explains it: the practice loses the patient's capitation until the "
    "patient is registered again.",
}


def _fp69_due(column: str) -> str:
    """SQL for the first day an FP69 deduction may take effect, from the notice table."""
    cases = " ".join(
        f"WHEN {column} >= DATE '{since.isoformat()}' THEN ({column} + INTERVAL "
        f"'{months} months')::date"
        for since, months in reversed(FP69_NOTICE[1:])
    )
    first = FP69_NOTICE[0][1]
    return f"CASE {cases} ELSE ({column} + INTERVAL '{first} months')::date END"


EXPLAINED: Final = f"""
    d.reason IN ('death', 'emigration')
    OR (d.reason IN ('removal', 'immediate_removal') AND d.removal_requested_on IS NOT NULL
        AND d.removal_requested_on <= d.effective_on)
    OR (d.reason = 'fp69' AND d.fp69_flagged_on IS NOT NULL AND d.under_18 IS NOT TRUE
        AND d.effective_on >= {_fp69_due("d.fp69_flagged_on")})
    OR (d.reason = 'transfer' AND (
        d.effective_on > :grace_cutoff
        OR EXISTS (SELECT 1 FROM registration o
                    WHERE o.nhs_number = d.nhs_number AND o.ods_code <> d.ods_code
                      AND o.event = 'registered'
                      AND o.effective_on BETWEEN d.effective_on - CAST(:evidence_days AS integer)
                                             AND d.effective_on + CAST(:evidence_days AS integer))
        OR EXISTS (SELECT 1 FROM movement m
                    WHERE m.nhs_number = d.nhs_number AND m.sender_ods_code = d.ods_code
                      AND m.reason = 'registration_elsewhere'
                      AND (m.requested_at AT TIME ZONE {LONDON})::date
                          BETWEEN d.effective_on - CAST(:evidence_days AS integer)
                              AND d.effective_on + CAST(:evidence_days AS integer))))
"""
"""Why a deduction ``d`` is not an incorrect removal (see the README's rules table)."""

PAYLOAD: Final = f"""
    jsonb_build_object(
        'reference', i.reference, 'kind', i.kind, 'odsCode', i.ods_code,
        'reportedOn', (i.reported_at AT TIME ZONE {LONDON})::date, 'status', i.status,
        'pcseReference', i.pcse_reference, 'raisedOn', i.raised_on,
        'resolvedOn', i.resolved_on, 'outcome', i.outcome)
"""
"""The same payload as ``service.incident_payload``, for incidents changed in bulk."""
NEW_REFERENCE: Final = (
    "'INC-' || translate(upper(substr(md5(gen_random_uuid()::text), 1, 12)), '0123456789', "
    "'GHJKLMNPQR')"
)
"""As ``service.new_reference``: twelve random letters, never a run of digits that could
pass for an NHS number in a log."""


class DetectionSettings(BaseSettings):
    """The registration rules' settings, read from ``RECORDS_*`` variables."""

    model_config = SettingsConfigDict(env_prefix="RECORDS_", extra="ignore", frozen=True)

    record_due_weeks: int = Field(
        default=Rules.record_due_weeks,
        ge=1,
        le=52,
        description="Weeks a patient may be registered with no record on its way.",
    )
    transfer_evidence_days: int = Field(default=Rules.transfer_evidence_days, ge=1, le=365)
    transfer_grace_working_days: int = Field(
        default=Rules.transfer_grace_working_days, ge=1, le=120
    )
    harm_review_days: int = Field(default=Rules.harm_review_days, ge=1, le=365)

    def rules(self) -> Rules:
        return Rules(
            record_due_weeks=self.record_due_weeks,
            transfer_evidence_days=self.transfer_evidence_days,
            transfer_grace_working_days=self.transfer_grace_working_days,
            harm_review_days=self.harm_review_days,
        )


@cache
def registration_rules() -> Rules:
    return DetectionSettings().rules()


@dataclass(frozen=True)
class Detected:
    opened: dict[str, int]
    """Incidents raised, by kind."""
    resolved: int
    harm_reviews_added: int


async def detect(
    session: AsyncSession,
    principal: Principal,
    *,
    today: date,
    rules: Rules | None = None,
    codes: Sequence[str] | None = None,
    patients: Sequence[str] | None = None,
) -> Detected:
    """Raise and clear what the registrations show, for the patients with a registration at
    ``codes`` and the ``patients`` named; for every patient when neither is given."""
    rules = rules or registration_rules()
    await _scope(session, codes, patients)
    params: dict[str, Any] = {
        "today": today,
        "due_before": rules.record_due_before(today),
        "evidence_days": rules.transfer_evidence_days,
        "grace_cutoff": rules.transfer_grace_cutoff(today),
        "review_due": today + timedelta(days=rules.harm_review_days),
        "actor": principal.subject,
        "role": str(principal.role),
    }
    weeks = {"weeks": rules.record_due_weeks}
    opened: dict[str, list[int]] = {}
    result = await session.execute(
        text(f"""
        WITH found AS (
            SELECT l.ods_code, l.nhs_number, s.id AS movement_id
              FROM detect_latest l JOIN detect_last_movement s USING (nhs_number)
             WHERE l.event = 'registered' AND l.effective_on <= :due_before AND {IN_STORAGE}
               AND NOT EXISTS (SELECT 1 FROM incident i
                                WHERE i.movement_id = s.id AND i.kind = 'erroneous_archiving'
                                  AND i.ods_code = l.ods_code)
        ), opened AS (
            INSERT INTO incident (reference, kind, movement_id, ods_code, reported_at,
                                  reported_by, detail, status)
            SELECT {NEW_REFERENCE}, 'erroneous_archiving', movement_id, ods_code, now(),
                   :actor, :detail, 'open'
              FROM found
            RETURNING id, movement_id, ods_code
        ), reviews AS (
            INSERT INTO harm_review (incident_id, movement_id, ods_code, nhs_number, due_on,
                                     source)
            SELECT o.id, o.movement_id, o.ods_code, f.nhs_number, :review_due, 'detected'
              FROM opened o JOIN found f USING (movement_id, ods_code)
            ON CONFLICT ON CONSTRAINT uq_harm_review_patient DO NOTHING
            RETURNING id
        )
        SELECT (SELECT array_agg(id) FROM opened), (SELECT count(*) FROM reviews)
        """),
        {**params, "detail": DETAIL["erroneous_archiving"].format(**weeks)},
    )
    archived, reviews = result.one()
    opened["erroneous_archiving"] = list(archived or [])
    result = await session.execute(
        text(f"""
        INSERT INTO incident (reference, kind, registration_id, ods_code, reported_at,
                              reported_by, detail, status)
        SELECT {NEW_REFERENCE}, 'record_not_received', l.id, l.ods_code, now(), :actor, :detail,
               'open'
          FROM detect_latest l LEFT JOIN detect_last_movement s USING (nhs_number)
         WHERE l.event = 'registered' AND l.reason = 'transfer'
           AND l.effective_on <= :due_before
           AND NOT coalesce({IN_STORAGE}, false)
           AND NOT EXISTS ({ON_ITS_WAY})
           AND NOT ({RETURNED})
           AND NOT EXISTS (SELECT 1 FROM incident i
                            WHERE i.registration_id = l.id AND i.kind = 'record_not_received')
        RETURNING id
        """),
        {**params, "detail": DETAIL["record_not_received"].format(**weeks)},
    )
    opened["record_not_received"] = list(result.scalars())
    result = await session.execute(
        text(f"""
        INSERT INTO incident (reference, kind, registration_id, ods_code, reported_at,
                              reported_by, detail, status)
        SELECT {NEW_REFERENCE}, 'incorrect_removal', d.id, d.ods_code, now(), :actor, :detail,
               'open'
          FROM registration d JOIN detect_patients p USING (nhs_number)
         WHERE d.event = 'deducted' AND NOT ({EXPLAINED})
           AND NOT EXISTS (SELECT 1 FROM incident i
                            WHERE i.registration_id = d.id AND i.kind = 'incorrect_removal')
        RETURNING id
        """),
        {**params, "detail": DETAIL["incorrect_removal"]},
    )
    opened["incorrect_removal"] = list(result.scalars())
    new_ids = [i for ids in opened.values() for i in ids]
    if new_ids:
        await announce(session, new_ids, params, action="detect_incident", event="opened")
    resolved = await _clear(session, params)
    return Detected(
        opened={kind: len(ids) for kind, ids in opened.items()},
        resolved=resolved,
        harm_reviews_added=int(reviews or 0),
    )


async def _scope(
    session: AsyncSession, codes: Sequence[str] | None, patients: Sequence[str] | None
) -> None:
    """The patients to look at, their latest registration fact and their record's latest
    movement (a cancelled one moved nothing), in temporary tables the statements share."""
    for statement in (
        "DROP TABLE IF EXISTS detect_patients, detect_latest, detect_last_movement",
        "CREATE TEMP TABLE detect_patients (nhs_number varchar(10) PRIMARY KEY) ON COMMIT DROP",
    ):
        await session.execute(text(statement))
    if codes is None and patients is None:
        await session.execute(
            text("INSERT INTO detect_patients SELECT DISTINCT nhs_number FROM registration")
        )
    else:
        await session.execute(
            text("""
            INSERT INTO detect_patients
            SELECT nhs_number FROM registration WHERE ods_code = ANY(CAST(:codes AS text[]))
            UNION
            SELECT unnest(CAST(:patients AS text[]))
            """),
            {"codes": list(codes or []), "patients": list(patients or [])},
        )
    await session.execute(text("ANALYZE detect_patients"))
    await session.execute(
        text("""
        CREATE TEMP TABLE detect_latest ON COMMIT DROP AS
        SELECT DISTINCT ON (r.nhs_number) r.id, r.ods_code, r.nhs_number, r.reason,
               r.effective_on,
               CASE WHEN EXISTS (
                   SELECT 1 FROM registration d
                    WHERE d.nhs_number = r.nhs_number AND d.ods_code = r.ods_code
                      AND d.event = 'deducted'
                      AND (d.effective_on, d.id) > (r.effective_on, r.id))
                    THEN 'deducted' ELSE 'registered' END AS event
          FROM registration r JOIN detect_patients p USING (nhs_number)
         WHERE r.event = 'registered'
         ORDER BY r.nhs_number, r.effective_on DESC, r.id DESC
        """)
    )
    await session.execute(
        text("""
        CREATE TEMP TABLE detect_last_movement ON COMMIT DROP AS
        SELECT DISTINCT ON (m.nhs_number) m.id, m.nhs_number, m.status, m.receiver_place
          FROM movement m JOIN detect_patients p USING (nhs_number)
         WHERE m.status <> 'cancelled'
         ORDER BY m.nhs_number, m.requested_at DESC, m.id DESC
        """)
    )


async def _clear(session: AsyncSession, params: dict[str, Any]) -> int:
    """Resolve what the facts no longer show: the record arrived or was released, the patient
    left, or was registered again after a removal in error."""
    cleared: list[int] = []
    statements = (
        # Something of the record is on its way now.
        f"""
        UPDATE incident i SET status = 'resolved', outcome = 'record_received',
               resolved_on = :today,
               resolution = 'Cleared automatically: the record is on its way or has arrived.'
          FROM registration l JOIN detect_patients p USING (nhs_number)
         WHERE i.registration_id = l.id AND i.kind = 'record_not_received'
           AND i.status <> 'resolved' AND EXISTS ({ON_ITS_WAY})
        RETURNING i.id
        """,
        # The patient is no longer registered here.
        """
        UPDATE incident i SET status = 'resolved', outcome = 'other', resolved_on = :today,
               resolution = 'Cleared automatically: the patient is no longer registered here.'
          FROM registration r JOIN detect_latest l USING (nhs_number)
         WHERE i.registration_id = r.id AND i.kind = 'record_not_received'
           AND i.status <> 'resolved' AND (l.id <> r.id OR l.event = 'deducted')
        RETURNING i.id
        """,
        # PCSE is releasing the record from central storage: a later movement of it, or the
        # stored one sent on.
        f"""
        UPDATE incident i SET status = 'resolved', outcome = 'record_released',
               resolved_on = :today,
               resolution = 'Cleared automatically: the record is being released from '
                            'central storage.'
          FROM movement a JOIN detect_last_movement s USING (nhs_number)
         WHERE i.movement_id = a.id AND i.kind = 'erroneous_archiving'
           AND i.status <> 'resolved'
           AND (s.id <> a.id OR NOT {IN_STORAGE})
        RETURNING i.id
        """,
        # Registered again at the practice that lost the patient.
        f"""
        UPDATE incident i SET status = 'resolved', outcome = 're_registered',
               remedied_on = back.effective_on,
               resolved_on = greatest(back.effective_on,
                                      (i.reported_at AT TIME ZONE {LONDON})::date),
               resolution = 'Cleared automatically: the patient is registered here again.'
          FROM registration d JOIN detect_patients p USING (nhs_number),
               LATERAL (SELECT min(b.effective_on) AS effective_on FROM registration b
                         WHERE b.nhs_number = d.nhs_number AND b.ods_code = d.ods_code
                           AND b.event = 'registered' AND b.effective_on >= d.effective_on
                           AND b.id <> d.id) AS back
         WHERE i.registration_id = d.id AND i.kind = 'incorrect_removal'
           AND i.status <> 'resolved' AND back.effective_on IS NOT NULL
        RETURNING i.id
        """,
    )
    for statement in statements:
        result = await session.execute(text(statement), params)
        cleared += list(result.scalars())
    if cleared:
        await announce(session, cleared, params, action="clear_incident", event="resolved")
    return len(cleared)


def trace_context() -> str | None:
    """The W3C trace context of the change, as JSON for an outbox row written in bulk (as
    ``pcse_kit.events.publish`` keeps it for one): the relay sends the events within the trace
    of the request or command that made them."""
    carrier = events.trace_context()
    return json.dumps(carrier) if carrier else None


async def announce(
    session: AsyncSession, ids: list[int], params: dict[str, Any], *, action: str, event: str
) -> None:
    """The history, audit rows and events of incidents opened or cleared in bulk."""
    bound = {"ids": ids, "actor": params["actor"], "role": params["role"]}
    await session.execute(
        text(f"""
        INSERT INTO movement_event (movement_id, kind, occurred_at, actor_subject, actor_role,
                                    note)
        SELECT i.movement_id, '{"incident_reported" if event == "opened" else "incident_updated"}',
               now(), :actor, :role, i.reference || ' ' || i.kind
          FROM incident i WHERE i.id = ANY(CAST(:ids AS bigint[])) AND i.movement_id IS NOT NULL
        """),
        bound,
    )
    await session.execute(
        text(f"""
        INSERT INTO audit_event (actor_subject, actor_role, action, entity, entity_key, before,
                                 after)
        SELECT :actor, :role, '{action}', 'incident', i.reference, NULL,
               {PAYLOAD} || jsonb_build_object('detail', i.detail, 'resolution', i.resolution)
          FROM incident i WHERE i.id = ANY(CAST(:ids AS bigint[]))
        """),
        bound,
    )
    await session.execute(
        text(f"""
        INSERT INTO outbox (event_id, stream, type, key, payload, trace_context)
        SELECT gen_random_uuid(), '{STREAM}', 'incident.{event}', i.reference, {PAYLOAD},
               CAST(:trace AS jsonb)
          FROM incident i WHERE i.id = ANY(CAST(:ids AS bigint[]))
         ORDER BY i.id
        RETURNING pg_notify('{OUTBOX_CHANNEL}', '{STREAM}')
        """),
        {"ids": ids, "trace": trace_context()},
    )
