"""Events go to NATS JetStream: the outbox keeps each change's trace context, and every event
is sent again to the new broker.

The trace context lets the relay send an event as part of the trace of the request that made
it. Sending the history again fills the new stream from the outbox, so that a consumer reading
it from the start sees every fact; the consumers' inboxes make the events they have already
applied no-ops.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03 09:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("outbox", sa.Column("trace_context", postgresql.JSONB(), nullable=True))
    op.execute("UPDATE outbox SET relayed_at = NULL WHERE relayed_at IS NOT NULL")


def downgrade() -> None:
    op.drop_column("outbox", "trace_context")
