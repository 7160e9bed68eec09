"""inbound events deduplicated per channel or connection

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-07 03:50:00.000000

An event id is a duplicate only of one that came in through the same channel (LINE) or the same
connection (Shopify, reservation systems): ``scope_id`` holds that channel's or connection's id,
and the unique key becomes ``(source, scope_id, dedup_key)``. Every stored row is kept: the new
key is looser than the old one, so no existing pair of rows can collide under it.
"""

import hashlib
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("inbound_events", schema=None) as batch_op:
        batch_op.add_column(sa.Column("scope_id", sa.Integer(), nullable=True))
    op.execute("UPDATE inbound_events SET scope_id = COALESCE(channel_id, connection_id, 0)")
    with op.batch_alter_table("inbound_events", schema=None) as batch_op:
        batch_op.alter_column("scope_id", existing_type=sa.Integer(), nullable=False)
        batch_op.drop_constraint("uq_inbound_events_source_dedup_key", type_="unique")
        batch_op.create_unique_constraint(
            batch_op.f("uq_inbound_events_source_scope_id_dedup_key"),
            ["source", "scope_id", "dedup_key"],
        )


def downgrade() -> None:
    # The global key cannot hold two scopes' events with one id: every such row but the first
    # gets a key naming its scope (hashed when it would not fit), so no row is lost going back.
    connection = op.get_bind()
    clashes = connection.execute(
        sa.text(
            "SELECT e.id, e.scope_id, e.dedup_key FROM inbound_events e "
            "WHERE EXISTS (SELECT 1 FROM inbound_events o WHERE o.source = e.source "
            "AND o.dedup_key = e.dedup_key AND o.id < e.id)"
        )
    ).all()
    for event_id, scope_id, dedup_key in clashes:
        key = f"{scope_id}:{dedup_key}"
        if len(key) > 128:
            key = "sha256:" + hashlib.sha256(key.encode()).hexdigest()
        connection.execute(
            sa.text("UPDATE inbound_events SET dedup_key = :key WHERE id = :id"),
            {"key": key, "id": event_id},
        )
    with op.batch_alter_table("inbound_events", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("uq_inbound_events_source_scope_id_dedup_key"), type_="unique"
        )
        batch_op.create_unique_constraint(
            "uq_inbound_events_source_dedup_key", ["source", "dedup_key"]
        )
        batch_op.drop_column("scope_id")
