"""initial store: connections, secrets, bindings, cursors, transfers, attempts, webhook events, usage

Revision ID: 0001
Revises:
Create Date: 2026-11-28
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TS = sa.DateTime(timezone=True)
STATES = (
    "pending",
    "in_progress",
    "transferred",
    "needs_review",
    "waiting_for_fix",
    "skipped",
    "waiting_for_quota",
)


def _conn_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["connection_id"],
        ["connections.id"],
        name=f"fk_{table}_connection_id_connections",
        ondelete="CASCADE",
    )


def upgrade() -> None:
    op.create_table(
        "connections",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.Column("settings", sa.JSON(), nullable=False),
        sa.Column("starweb_base_url", sa.String(500), nullable=True),
        sa.Column("visma_api_base", sa.String(500), nullable=True),
        sa.Column("visma_identity_url", sa.String(500), nullable=True),
        sa.Column("paused", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.PrimaryKeyConstraint("id", name="pk_connections"),
        sa.UniqueConstraint("name", name="uq_connections_name"),
    )
    op.create_table(
        "secrets",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("connection_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("ciphertext", sa.LargeBinary(), nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_secrets"),
        sa.UniqueConstraint("connection_id", "kind", name="uq_secrets_connection_id_kind"),
        _conn_fk("secrets"),
    )
    op.create_table(
        "bindings",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("connection_id", sa.Integer(), nullable=False),
        sa.Column("entity_type", sa.String(32), nullable=False),
        sa.Column("starweb_id", sa.String(64), nullable=False),
        sa.Column("visma_id", sa.String(64), nullable=False),
        sa.Column("visma_number", sa.String(64), nullable=True),
        sa.Column("content_hash", sa.String(64), nullable=True),
        sa.Column("synced_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_bindings"),
        sa.UniqueConstraint(
            "connection_id",
            "entity_type",
            "starweb_id",
            name="uq_bindings_connection_id_entity_type_starweb_id",
        ),
        sa.UniqueConstraint(
            "connection_id", "entity_type", "visma_id", name="uq_bindings_connection_id_entity_type_visma_id"
        ),
        _conn_fk("bindings"),
    )
    op.create_table(
        "cursors",
        sa.Column("connection_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("value", sa.Text(), nullable=True),
        sa.Column("updated_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("connection_id", "name", name="pk_cursors"),
        _conn_fk("cursors"),
    )
    op.create_table(
        "transfers",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("connection_id", sa.Integer(), nullable=False),
        sa.Column("entity_type", sa.String(32), nullable=False, server_default="order"),
        sa.Column("starweb_order_id", sa.String(64), nullable=False),
        sa.Column("starweb_order_number", sa.String(64), nullable=True),
        sa.Column("state", sa.String(32), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("next_attempt_at", TS, nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("warnings", sa.JSON(), nullable=False),
        sa.Column("details", sa.JSON(), nullable=True),
        sa.Column("visma_document_id", sa.String(64), nullable=True),
        sa.Column("visma_document_number", sa.String(64), nullable=True),
        sa.Column("document_type", sa.String(32), nullable=True),
        sa.Column("intent_key", sa.String(128), nullable=True),
        sa.Column("intent_at", TS, nullable=True),
        sa.Column("claim_token", sa.String(36), nullable=True),
        sa.Column("claimed_by", sa.String(100), nullable=True),
        sa.Column("claimed_at", TS, nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_transfers"),
        sa.UniqueConstraint(
            "connection_id",
            "entity_type",
            "starweb_order_id",
            name="uq_transfers_connection_id_entity_type_starweb_order_id",
        ),
        sa.CheckConstraint(
            "state IN (" + ", ".join(f"'{s}'" for s in STATES) + ")", name="ck_transfers_state"
        ),
        _conn_fk("transfers"),
    )
    op.create_index("ix_transfers_due", "transfers", ["connection_id", "state", "next_attempt_at"])
    op.create_table(
        "attempts",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("transfer_id", sa.Integer(), nullable=False),
        sa.Column("started_at", TS, nullable=False),
        sa.Column("finished_at", TS, nullable=True),
        sa.Column("outcome", sa.String(32), nullable=True),
        sa.Column("request", sa.JSON(), nullable=True),
        sa.Column("response", sa.JSON(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_attempts"),
        sa.ForeignKeyConstraint(
            ["transfer_id"], ["transfers.id"], name="fk_attempts_transfer_id_transfers", ondelete="CASCADE"
        ),
    )
    op.create_index("ix_attempts_transfer_id", "attempts", ["transfer_id"])
    op.create_table(
        "webhook_events",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("uuid", sa.String(64), nullable=False),
        sa.Column("connection_id", sa.Integer(), nullable=False),
        sa.Column("received_at", TS, nullable=False),
        sa.Column("payload", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_webhook_events"),
        sa.UniqueConstraint("uuid", name="uq_webhook_events_uuid"),
        _conn_fk("webhook_events"),
    )
    op.create_index("ix_webhook_events_received_at", "webhook_events", ["received_at"])
    op.create_table(
        "usage",
        sa.Column("connection_id", sa.Integer(), nullable=False),
        sa.Column("month", sa.String(7), nullable=False),
        sa.Column("transferred_orders", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("shops", sa.Integer(), nullable=False, server_default="0"),
        sa.PrimaryKeyConstraint("connection_id", "month", name="pk_usage"),
        _conn_fk("usage"),
    )


def downgrade() -> None:
    op.drop_table("usage")
    op.drop_index("ix_webhook_events_received_at", table_name="webhook_events")
    op.drop_table("webhook_events")
    op.drop_index("ix_attempts_transfer_id", table_name="attempts")
    op.drop_table("attempts")
    op.drop_index("ix_transfers_due", table_name="transfers")
    op.drop_table("transfers")
    op.drop_table("cursors")
    op.drop_table("bindings")
    op.drop_table("secrets")
    op.drop_table("connections")
