"""What the payments service publishes on its own stream, ``payments``, through its outbox.

Each event is written in the transaction of the change it reports, so it exists if and only
if the change commits; the relay sends it on. Keys are ODS codes (a subscriber filters by
practice); payloads carry the practice's LMC where an LMC may want it, and never a patient
identifier. docs/events.md lists them.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from pcse_kit import events
from sqlalchemy import func, insert, select

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


async def publish_many(session: AsyncSession, items: list[tuple[str, str, dict[str, Any]]]) -> None:
    """Many events (type, ODS code, payload) in one statement, in order; one wake-up for the
    relay on commit (a daily pass over thousands of practices)."""
    if not items:
        return
    trace = events.trace_context()
    await session.execute(
        insert(Outbox),
        [
            {"event_id": uuid.uuid4(), "stream": STREAM, "type": t, "key": k, "payload": p,
             "trace_context": trace}
            for t, k, p in items
        ],
    )  # fmt: skip
    await session.execute(select(func.pg_notify(events.OUTBOX_CHANNEL, STREAM)))
