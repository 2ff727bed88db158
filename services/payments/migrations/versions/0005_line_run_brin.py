"""Find a run's lines through a block-range index instead of a B-tree.

Every line of a run has the same run id and arrives in one COPY, so the lines lie together
in the heap: a BRIN index still finds them, and costs next to nothing to keep up, where the
B-tree took about a tenth of the server's time in each import.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22 10:20:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_index("ix_statement_line_run", table_name="statement_line")
    op.create_index("ix_statement_line_run", "statement_line", ["run_id"], postgresql_using="brin")


def downgrade() -> None:
    op.drop_index("ix_statement_line_run", table_name="statement_line")
    op.create_index("ix_statement_line_run", "statement_line", ["run_id"], unique=False)
