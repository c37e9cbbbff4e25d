"""portal: tenants, users, sessions, one-time links, sign-in throttle, notifications; order search facts

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TS = sa.DateTime(timezone=True)


def _fk(table: str, column: str, target: str, ondelete: str = "CASCADE") -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column], [f"{target}.id"], name=f"fk_{table}_{column}_{target}", ondelete=ondelete
    )


def upgrade() -> None:
    op.create_table(
        "tenants",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("partner_id", sa.Integer(), nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_tenants"),
        sa.UniqueConstraint("name", name="uq_tenants_name"),
        sa.CheckConstraint("kind IN ('partner', 'merchant')", name="ck_tenants_kind"),
        _fk("tenants", "partner_id", "tenants", "SET NULL"),
    )
    op.create_index("ix_tenants_partner_id", "tenants", ["partner_id"])
    op.create_table(
        "tenant_connections",
        sa.Column("connection_id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("connection_id", name="pk_tenant_connections"),
        _fk("tenant_connections", "connection_id", "connections"),
        _fk("tenant_connections", "tenant_id", "tenants"),
    )
    op.create_index("ix_tenant_connections_tenant_id", "tenant_connections", ["tenant_id"])
    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("email", sa.String(254), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("password_hash", sa.String(200), nullable=True),
        sa.Column("language", sa.String(8), server_default="sv", nullable=False),
        sa.Column("totp_secret", sa.LargeBinary(), nullable=True),
        sa.Column("totp_enabled", sa.Boolean(), nullable=False),
        sa.Column("notify_alerts", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.Column("notify_digest", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.Column("digest_sent_at", TS, nullable=True),
        sa.Column("is_active", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("last_login_at", TS, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_users"),
        sa.UniqueConstraint("email", name="uq_users_email"),
        sa.CheckConstraint("role IN ('owner', 'viewer')", name="ck_users_role"),
        _fk("users", "tenant_id", "tenants"),
    )
    op.create_index("ix_users_tenant_id", "users", ["tenant_id"])
    op.create_table(
        "web_sessions",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("verified", sa.Boolean(), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("last_seen_at", TS, nullable=False),
        sa.Column("expires_at", TS, nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_web_sessions"),
        _fk("web_sessions", "user_id", "users"),
    )
    op.create_index("ix_web_sessions_user_id", "web_sessions", ["user_id"])
    op.create_index("ix_web_sessions_expires_at", "web_sessions", ["expires_at"])
    op.create_table(
        "auth_tokens",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("email", sa.String(254), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("expires_at", TS, nullable=False),
        sa.Column("used_at", TS, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_auth_tokens"),
        _fk("auth_tokens", "tenant_id", "tenants"),
        _fk("auth_tokens", "user_id", "users"),
    )
    op.create_index("ix_auth_tokens_tenant_id", "auth_tokens", ["tenant_id"])
    op.create_table(
        "signin_failures",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("key", sa.String(300), nullable=False),
        sa.Column("at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_signin_failures"),
    )
    op.create_index("ix_signin_failures_key", "signin_failures", ["key"])
    op.create_index("ix_signin_failures_at", "signin_failures", ["at"])
    op.create_table(
        "notification_channels",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("target", sa.LargeBinary(), nullable=False),
        sa.Column("language", sa.String(8), nullable=False),
        sa.Column("enabled", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_notification_channels"),
        _fk("notification_channels", "tenant_id", "tenants"),
    )
    op.create_index("ix_notification_channels_tenant_id", "notification_channels", ["tenant_id"])
    op.create_table(
        "notification_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("connection_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("key", sa.String(200), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_notification_events"),
        sa.UniqueConstraint(
            "connection_id", "kind", "key", name="uq_notification_events_connection_id_kind_key"
        ),
        _fk("notification_events", "connection_id", "connections"),
    )
    op.create_index("ix_notification_events_created", "notification_events", ["created_at"])
    op.create_table(
        "notification_messages",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("recipient", sa.String(64), nullable=False),
        sa.Column("digest_day", sa.String(10), nullable=True),
        sa.Column("subject", sa.String(300), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", TS, nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("sent_at", TS, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_notification_messages"),
        sa.UniqueConstraint("recipient", "digest_day", name="uq_notification_messages_recipient_digest_day"),
        _fk("notification_messages", "tenant_id", "tenants"),
    )
    op.create_index("ix_notification_messages_tenant_id", "notification_messages", ["tenant_id"])
    op.create_index("ix_notification_messages_due", "notification_messages", ["status", "next_attempt_at"])
    with op.batch_alter_table("transfers") as batch:
        batch.add_column(sa.Column("customer_name", sa.String(200), nullable=True))
        batch.add_column(sa.Column("customer_email", sa.String(254), nullable=True))
        batch.add_column(sa.Column("ordered_at", TS, nullable=True))
        batch.add_column(sa.Column("total_amount", sa.Numeric(18, 2), nullable=True))
        batch.add_column(sa.Column("currency", sa.String(3), nullable=True))
    op.create_index("ix_transfers_ordered", "transfers", ["connection_id", "ordered_at"])


def downgrade() -> None:
    op.drop_index("ix_transfers_ordered", table_name="transfers")
    with op.batch_alter_table("transfers") as batch:
        for column in ("currency", "total_amount", "ordered_at", "customer_email", "customer_name"):
            batch.drop_column(column)
    for table in (
        "notification_messages",
        "notification_events",
        "notification_channels",
        "signin_failures",
        "auth_tokens",
        "web_sessions",
        "users",
        "tenant_connections",
        "tenants",
    ):
        op.drop_table(table)
