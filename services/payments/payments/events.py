"""What the payments service publishes on its own stream, ``payments``, through its outbox.

Each event is written in the transaction of the change it reports, so it exists if and only
if the change commits; the relay sends it on. Keys are ODS codes (a subscriber filters by
practice); payloads carry the practice's LMC where an LMC may want it, and never a patient
identifier. docs/events.md lists them.
"""

from __future__ import annotations

import json
import uuid
from typing import TYPE_CHECKING, Any

from pcse_kit import events
from sqlalchemy import func, select

from payments.models import Outbox

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

STREAM = "payments"

STATEMENT_PUBLISHED = "statement.published"
STATEMENT_CHANGED = "statement.changed"
ANOMALY_RAISED = "anomaly.raised"
ANOMALY_RESOLVED = "anomaly.resolved"
DISPUTE_ESCALATABLE = "dispute.escalatable"
DEADLINE_APPROACHING = "deadline.approaching"


async def publish(
    session: AsyncSession, type_: str, ods_code: str, payload: dict[str, Any]
) -> None:
    await events.publish(session, Outbox, stream=STREAM, type=type_, key=ods_code, payload=payload)


_PUBLISH_MANY = (
    "INSERT INTO outbox (event_id, stream, type, key, payload, trace_context)"
    " SELECT e::uuid, $5, t, k, p::jsonb, $6::jsonb"
    " FROM unnest($1::text[], $2::text[], $3::text[], $4::text[])"
    " WITH ORDINALITY AS x(e, t, k, p, n)"
    " ORDER BY n"
)
"""The events in the order given: the identity that orders the outbox is drawn row by row
as the sorted rows are inserted."""


async def publish_many(session: AsyncSession, items: list[tuple[str, str, dict[str, Any]]]) -> None:
    """Many events (type, ODS code, payload) in one statement, in order; one wake-up for the
    relay on commit (a daily pass over thousands of practices, an import's statements).

    Each column travels as one array (the payloads as JSON text, encoded here by the json
    module's C encoder): no per-row SQL to build or parameters to bind, which for 6,000
    events cost more than the insert itself."""
    if not items:
        return
    trace = events.trace_context()
    dumps = json.dumps
    connection = await session.connection()
    await connection.exec_driver_sql(
        _PUBLISH_MANY,
        (
            [str(uuid.uuid4()) for _ in items],
            [t for t, _, _ in items],
            [k for _, k, _ in items],
            [dumps(p) for _, _, p in items],
            STREAM,
            None if trace is None else dumps(trace),
        ),
    )
    await session.execute(select(func.pg_notify(events.OUTBOX_CHANNEL, STREAM)))
