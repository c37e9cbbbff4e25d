"""catalogue: order lines (oversell rule) and per-item catalogue issues

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "order_lines",
        sa.Column("connection_id", sa.Integer(), nullable=False),
        sa.Column("starweb_order_id", sa.String(64), nullable=False),
        sa.Column("sku", sa.String(100), nullable=False),
        sa.Column("quantity", sa.Numeric(18, 4), nullable=False),
        sa.Column("recorded_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("connection_id", "starweb_order_id", "sku", name="pk_order_lines"),
        sa.ForeignKeyConstraint(
            ["connection_id"],
            ["connections.id"],
            name="fk_order_lines_connection_id_connections",
            ondelete="CASCADE",
        ),
    )
    op.create_table(
        "catalog_issues",
        sa.Column("connection_id", sa.Integer(), nullable=False),
        sa.Column("entity", sa.String(32), nullable=False),
        sa.Column("key", sa.String(100), nullable=False),
        sa.Column("level", sa.String(16), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("first_seen", TS, nullable=False),
        sa.Column("last_seen", TS, nullable=False),
        sa.PrimaryKeyConstraint("connection_id", "entity", "key", name="pk_catalog_issues"),
        sa.ForeignKeyConstraint(
            ["connection_id"],
            ["connections.id"],
            name="fk_catalog_issues_connection_id_connections",
            ondelete="CASCADE",
        ),
    )
    op.create_index("ix_catalog_issues_conn", "catalog_issues", ["connection_id", "level"])


def downgrade() -> None:
    op.drop_index("ix_catalog_issues_conn", table_name="catalog_issues")
    op.drop_table("catalog_issues")
    op.drop_table("order_lines")
