"""How many performers share each name and date of birth, kept by statement-level triggers:
the duplicate-performer finding reads the few shared identities from an index; an index of the
performers whose published-list check is a finding; and statistics of which list statuses and
GP Register entries go together.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03 19:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Each row of a transition table with a date of birth, signed: +1 for a new row, -1 for an
# old one. The keys are the duplicate test's own comparison (names in lower case).
ENDS = """
    SELECT lower(family_name) AS family_key, lower(given_name) AS given_key, date_of_birth,
           {sign} AS n
      FROM {rows} WHERE date_of_birth IS NOT NULL
"""
# Rows are locked in one order whatever the statement, so two writers cannot wait on each
# other's counts. An update that changes no name or date of birth sums to nothing and writes
# nothing.
APPLY = """
    INSERT INTO performer_identity AS i (family_key, given_key, date_of_birth, performers)
    SELECT family_key, given_key, date_of_birth, sum(n) FROM ({ends}) AS d
     GROUP BY family_key, given_key, date_of_birth HAVING sum(n) <> 0
     ORDER BY family_key, given_key, date_of_birth
    ON CONFLICT (family_key, given_key, date_of_birth)
    DO UPDATE SET performers = i.performers + EXCLUDED.performers;
"""
FUNCTIONS = {
    "performer_identity_inserted": APPLY.format(ends=ENDS.format(sign=1, rows="new_rows")),
    "performer_identity_deleted": APPLY.format(ends=ENDS.format(sign=-1, rows="old_rows")),
    "performer_identity_updated": APPLY.format(
        ends=ENDS.format(sign=1, rows="new_rows")
        + " UNION ALL "
        + ENDS.format(sign=-1, rows="old_rows")
    ),
}
TRIGGERS = {
    "performer_identity_inserted": ("INSERT", "NEW TABLE AS new_rows"),
    "performer_identity_deleted": ("DELETE", "OLD TABLE AS old_rows"),
    "performer_identity_updated": ("UPDATE", "NEW TABLE AS new_rows OLD TABLE AS old_rows"),
}


PUBLIC_LIST_FINDING = (
    "public_list_entries > 1 OR (public_list_visible IS FALSE "
    "AND status IN ('included', 'included_with_conditions'))"
)


# Most performers without a GP Register entry are registrars, whom the test leaves out: without
# statistics of the columns together the planner takes a hundred or so performers for 6,000
# and hashes every membership of an area to find them.
STANDING = "performer_standing"


def upgrade() -> None:
    op.create_table(
        "performer_identity",
        sa.Column("family_key", sa.Text(), nullable=False),
        sa.Column("given_key", sa.Text(), nullable=False),
        sa.Column("date_of_birth", sa.Date(), nullable=False),
        sa.Column("performers", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("family_key", "given_key", "date_of_birth"),
    )
    op.create_index(
        "ix_performer_identity_shared",
        "performer_identity",
        ["family_key", "given_key", "date_of_birth"],
        postgresql_where=sa.text("performers > 1"),
    )
    for name, body in FUNCTIONS.items():
        op.execute(
            f"CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$ "
            f"BEGIN {body} RETURN NULL; END $$"
        )
        event, transition = TRIGGERS[name]
        op.execute(
            f"CREATE TRIGGER {name} AFTER {event} ON performer REFERENCING {transition} "
            f"FOR EACH STATEMENT EXECUTE FUNCTION {name}()"
        )
    # The identities so far; the table is locked meanwhile, so no change slips between the two.
    op.execute("LOCK TABLE performer IN SHARE MODE")
    op.execute(
        "INSERT INTO performer_identity (family_key, given_key, date_of_birth, performers) "
        "SELECT lower(family_name), lower(given_name), date_of_birth, count(*) FROM performer "
        "WHERE date_of_birth IS NOT NULL GROUP BY 1, 2, 3"
    )
    op.create_index(
        "ix_performer_public_list_finding",
        "performer",
        ["gmc_number"],
        postgresql_where=sa.text(PUBLIC_LIST_FINDING),
    )
    op.execute(
        f"CREATE STATISTICS {STANDING} (mcv) "
        "ON gp_register_on, under_training_supervision, status FROM performer"
    )
    # The planner sees the new counts and statistics at once, not after autovacuum comes by.
    op.execute("ANALYZE performer, performer_identity")


def downgrade() -> None:
    op.execute(f"DROP STATISTICS {STANDING}")
    op.drop_index("ix_performer_public_list_finding", table_name="performer")
    for name in FUNCTIONS:
        op.execute(f"DROP TRIGGER {name} ON performer")
        op.execute(f"DROP FUNCTION {name}()")
    op.drop_index("ix_performer_identity_shared", table_name="performer_identity")
    op.drop_table("performer_identity")
