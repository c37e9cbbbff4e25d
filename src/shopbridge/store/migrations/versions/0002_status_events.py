"""order status events (Visma -> Starweb status feedback, payments, credits)

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "status_events",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("connection_id", sa.Integer(), nullable=False),
        sa.Column("starweb_order_id", sa.String(64), nullable=False),
        sa.Column("event", sa.String(32), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("visma_id", sa.String(64), nullable=True),
        sa.Column("details", sa.JSON(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_status_events"),
        sa.UniqueConstraint(
            "connection_id",
            "starweb_order_id",
            "event",
            name="uq_status_events_connection_id_starweb_order_id_event",
        ),
        sa.ForeignKeyConstraint(
            ["connection_id"],
            ["connections.id"],
            name="fk_status_events_connection_id_connections",
            ondelete="CASCADE",
        ),
    )
    op.create_index("ix_status_events_open", "status_events", ["connection_id", "state"])
    op.create_index("ix_status_events_visma", "status_events", ["connection_id", "visma_id"])


def downgrade() -> None:
    op.drop_index("ix_status_events_visma", table_name="status_events")
    op.drop_index("ix_status_events_open", table_name="status_events")
    op.drop_table("status_events")
