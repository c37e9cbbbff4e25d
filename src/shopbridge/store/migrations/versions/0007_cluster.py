"""cluster: leases (one sweep per connection across processes), in-doubt creates, send stamps

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TS = sa.DateTime(timezone=True)
OLD_STATES = (
    "pending",
    "in_progress",
    "transferred",
    "needs_review",
    "waiting_for_fix",
    "skipped",
    "waiting_for_quota",
)
NEW_STATES = (*OLD_STATES, "in_doubt")


def _check(states: Sequence[str]) -> str:
    return "state IN (" + ", ".join(f"'{s}'" for s in states) + ")"


def _set_states(states: Sequence[str]) -> None:
    """Replace the CHECK on transfers.state (whatever name an earlier version gave it)."""
    bind = op.get_bind()
    names = [
        c["name"]
        for c in sa.inspect(bind).get_check_constraints("transfers")
        if c.get("name") and "state" in (c.get("sqltext") or "")
    ]
    if bind.dialect.name == "sqlite":  # SQLite cannot alter a CHECK: batch mode copies the table
        with op.batch_alter_table("transfers", recreate="always") as batch:
            for name in names:
                batch.drop_constraint(op.f(name), type_="check")
            batch.create_check_constraint("state", _check(states))
    else:
        for name in names:
            op.drop_constraint(op.f(name), "transfers", type_="check")
        op.create_check_constraint("state", "transfers", _check(states))


def upgrade() -> None:
    op.create_table(
        "leases",
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("holder", sa.String(200), nullable=True),
        sa.Column("token", sa.Integer(), server_default="0", nullable=False),
        sa.Column("acquired_at", TS, nullable=True),
        sa.Column("expires_at", TS, nullable=True),
        sa.PrimaryKeyConstraint("name", name="pk_leases"),
    )
    with op.batch_alter_table("transfers") as batch:
        batch.add_column(sa.Column("sent_at", TS, nullable=True))
    # an intent recorded by an older version may have been sent: treat it as sent when it was recorded
    op.execute(
        "UPDATE transfers SET sent_at = intent_at WHERE intent_key IS NOT NULL AND state <> 'transferred'"
    )
    _set_states(NEW_STATES)


def downgrade() -> None:
    op.execute("UPDATE transfers SET state = 'pending' WHERE state = 'in_doubt'")
    _set_states(OLD_STATES)
    with op.batch_alter_table("transfers") as batch:
        batch.drop_column("sent_at")
    op.drop_table("leases")
