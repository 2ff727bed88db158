"""Accountant consent, the append-only audit trail and idempotency keys.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 08:21:46.279084
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from pcse_kit.audit import append_only_sql
from sqlalchemy.dialects import postgresql

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "accountant_consent",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("ods_code", sa.String(length=6), nullable=False),
        sa.Column("accountant_id", sa.String(length=200), nullable=False),
        sa.Column(
            "granted_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("granted_by", sa.String(length=200), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_by", sa.String(length=200), nullable=True),
        sa.CheckConstraint("ods_code ~ '^[A-Z][0-9]{5}$'", name="consent_ods_code_format"),
        sa.CheckConstraint(
            "revoked_at IS NULL OR revoked_at >= granted_at", name="consent_revoked_after_grant"
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_consent_accountant", "accountant_consent", ["accountant_id", "ods_code"], unique=False
    )
    op.create_index(
        "ux_consent_active",
        "accountant_consent",
        ["ods_code", "accountant_id"],
        unique=True,
        postgresql_where=sa.text("revoked_at IS NULL"),
    )
    op.create_table(
        "audit_event",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column(
            "occurred_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("actor_subject", sa.String(length=200), nullable=False),
        sa.Column("actor_role", sa.String(length=20), nullable=False),
        sa.Column("action", sa.String(length=100), nullable=False),
        sa.Column("entity", sa.String(length=100), nullable=False),
        sa.Column("entity_key", sa.String(length=200), nullable=False),
        sa.Column("before", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("after", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_audit_event_entity", "audit_event", ["entity", "entity_key", "id"], unique=False
    )
    op.create_table(
        "idempotency_key",
        sa.Column("actor_subject", sa.String(length=200), nullable=False),
        sa.Column("key", sa.String(length=100), nullable=False),
        sa.Column("operation", sa.String(length=100), nullable=False),
        sa.Column("request_hash", sa.String(length=64), nullable=False),
        sa.Column("response", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("actor_subject", "key"),
    )
    for statement in append_only_sql():
        op.execute(statement)


def downgrade() -> None:
    op.drop_table("idempotency_key")
    op.drop_index("ix_audit_event_entity", table_name="audit_event")
    op.drop_table("audit_event")
    op.execute("DROP FUNCTION audit_event_append_only()")
    op.drop_index(
        "ux_consent_active",
        table_name="accountant_consent",
        postgresql_where=sa.text("revoked_at IS NULL"),
    )
    op.drop_index("ix_consent_accountant", table_name="accountant_consent")
    op.drop_table("accountant_consent")
