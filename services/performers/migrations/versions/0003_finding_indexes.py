"""Indexes for the findings an LMC's summary asks for: twins, performers off the list,
registrars without a CCT.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22 11:00:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEXES = {
    "ix_performer_name_born": "(lower(family_name), lower(given_name), date_of_birth)",
    "ix_performer_not_on_list": (
        "(gmc_number) WHERE status NOT IN ('included', 'included_with_conditions')"
    ),
    "ix_performer_without_cct": (
        "(gmc_number) WHERE cct_date IS NULL AND NOT under_training_supervision"
    ),
}


def upgrade() -> None:
    with op.get_context().autocommit_block():
        for name, definition in INDEXES.items():
            op.execute(f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {name} ON performer {definition}")


def downgrade() -> None:
    with op.get_context().autocommit_block():
        for name in INDEXES:
            op.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {name}")
