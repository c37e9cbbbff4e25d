"""web hooks are de-duplicated per connection: unique (connection_id, uuid) instead of uuid alone

Two shops may send events whose uuids collide (or a forged body may reuse another shop's uuid): a
resend is a resend only within one connection.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("webhook_events") as batch:
        batch.drop_constraint("uq_webhook_events_uuid", type_="unique")
        batch.create_unique_constraint("uq_webhook_events_connection_id_uuid", ["connection_id", "uuid"])


def downgrade() -> None:
    with op.batch_alter_table("webhook_events") as batch:
        batch.drop_constraint("uq_webhook_events_connection_id_uuid", type_="unique")
        batch.create_unique_constraint("uq_webhook_events_uuid", ["uuid"])
