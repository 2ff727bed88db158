"""Movement counts per practice, direction and status, kept by statement-level triggers.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22 10:55:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

STATUSES = (
    "requested", "in_progress", "ready_for_collection", "collected", "delivered", "cancelled",
    "no_paper_record", "missing", "lost", "in_central_storage",
)  # fmt: skip

# Each end of each row of a transition table, signed: +1 for a new row, -1 for an old one.
ENDS = """
    SELECT sender_ods_code AS ods_code, 'out' AS direction, status, {sign} AS n
      FROM {rows} WHERE sender_ods_code IS NOT NULL
    UNION ALL
    SELECT receiver_ods_code, 'in', status, {sign} FROM {rows} WHERE receiver_ods_code IS NOT NULL
"""
# Rows are locked in one order (practice, direction, status) whatever the statement, so two
# writers cannot wait on each other's counts.
APPLY = """
    INSERT INTO movement_count AS c (ods_code, direction, status, count)
    SELECT ods_code, direction, status, sum(n) FROM ({ends}) AS d
     GROUP BY ods_code, direction, status HAVING sum(n) <> 0
     ORDER BY ods_code, direction, status
    ON CONFLICT (ods_code, direction, status) DO UPDATE SET count = c.count + EXCLUDED.count;
"""
FUNCTIONS = {
    "movement_count_inserted": APPLY.format(ends=ENDS.format(sign=1, rows="new_rows")),
    "movement_count_deleted": APPLY.format(ends=ENDS.format(sign=-1, rows="old_rows")),
    "movement_count_updated": APPLY.format(
        ends=ENDS.format(sign=1, rows="new_rows")
        + " UNION ALL "
        + ENDS.format(sign=-1, rows="old_rows")
    ),
}
TRIGGERS = {
    "movement_count_inserted": ("INSERT", "NEW TABLE AS new_rows"),
    "movement_count_deleted": ("DELETE", "OLD TABLE AS old_rows"),
    "movement_count_updated": ("UPDATE", "NEW TABLE AS new_rows OLD TABLE AS old_rows"),
}


def upgrade() -> None:
    op.create_table(
        "movement_count",
        sa.Column("ods_code", sa.String(length=9), nullable=False),
        sa.Column("direction", sa.String(length=3), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                *STATUSES,
                name="movement_count_status",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("direction IN ('in', 'out')", name="movement_count_direction"),
        sa.PrimaryKeyConstraint("ods_code", "direction", "status"),
    )
    for name, body in FUNCTIONS.items():
        op.execute(
            f"CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$ "
            f"BEGIN {body} RETURN NULL; END $$"
        )
        event, transition = TRIGGERS[name]
        op.execute(
            f"CREATE TRIGGER {name} AFTER {event} ON movement REFERENCING {transition} "
            f"FOR EACH STATEMENT EXECUTE FUNCTION {name}()"
        )
    # The counts so far; the table is locked meanwhile, so no change slips between the two.
    op.execute("LOCK TABLE movement IN SHARE MODE")
    ends = ENDS.format(sign=1, rows="movement")
    op.execute(
        "INSERT INTO movement_count (ods_code, direction, status, count) "  # noqa: S608 - our SQL
        f"SELECT ods_code, direction, status, sum(n) FROM ({ends}) AS d "
        "GROUP BY ods_code, direction, status"
    )


def downgrade() -> None:
    for name in FUNCTIONS:
        op.execute(f"DROP TRIGGER {name} ON movement")
        op.execute(f"DROP FUNCTION {name}()")
    op.drop_table("movement_count")
