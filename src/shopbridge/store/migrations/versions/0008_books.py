"""books: one Visma customer may stand for many Starweb customers (a returning guest); what the shop's
order held when its document was made (transfers.content), to notice edits after the transfer

The unique (connection_id, entity_type, visma_id) on bindings becomes a partial unique index that
leaves customers out: Starweb gives each guest checkout a customer of its own, and a second order with
the same e-mail finds (and must bind) the Visma customer the first one created.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD = "uq_bindings_connection_id_entity_type_visma_id"
NEW = "uq_bindings_visma_id_one_to_one"
WHERE = sa.text("entity_type != 'customer'")


def upgrade() -> None:
    op.add_column("transfers", sa.Column("content", sa.JSON(), nullable=True))
    with op.batch_alter_table("bindings") as batch:
        batch.drop_constraint(OLD, type_="unique")
    op.create_index(
        NEW,
        "bindings",
        ["connection_id", "entity_type", "visma_id"],
        unique=True,
        sqlite_where=WHERE,
        postgresql_where=WHERE,
    )


def downgrade() -> None:
    op.drop_index(NEW, table_name="bindings")
    with op.batch_alter_table("bindings") as batch:
        batch.create_unique_constraint(OLD, ["connection_id", "entity_type", "visma_id"])
    with op.batch_alter_table("transfers") as batch:
        batch.drop_column("content")
