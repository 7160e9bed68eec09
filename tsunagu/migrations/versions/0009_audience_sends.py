"""audience sends: one row per mass send, its frozen audience on the delivery batches

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30 05:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_AUDIENCE_SENT = sa.text("audience_send_id IS NOT NULL AND state = 'sent'")


def upgrade() -> None:
    op.create_table(
        "audience_sends",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("shop_id", sa.Integer(), nullable=False),
        sa.Column("channel_id", sa.Integer(), nullable=False),
        sa.Column("idempotency_key", sa.String(length=200), nullable=False),
        sa.Column("source", sa.String(length=100), nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("respect_quiet_hours", sa.Boolean(), nullable=False),
        sa.Column("planned", sa.Integer(), nullable=False),
        sa.Column("suppressed", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["channel_id"], ["channels.id"], name=op.f("fk_audience_sends_channel_id_channels")
        ),
        sa.ForeignKeyConstraint(
            ["content_hash"],
            ["delivery_contents.content_hash"],
            name=op.f("fk_audience_sends_content_hash_delivery_contents"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audience_sends")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_audience_sends_idempotency_key")),
    )
    with op.batch_alter_table("audience_sends", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_audience_sends_source"), ["source"], unique=False)

    with op.batch_alter_table("delivery_batches", schema=None) as batch_op:
        batch_op.add_column(sa.Column("audience_send_id", sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column(
                "friend_ids",
                sa.JSON().with_variant(postgresql.ARRAY(sa.BigInteger()), "postgresql"),
                nullable=True,
            )
        )
        batch_op.add_column(sa.Column("dropped", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_delivery_batches_audience_send_id_audience_sends"),
            "audience_sends",
            ["audience_send_id"],
            ["id"],
        )
        batch_op.create_index(
            "ix_delivery_batches_audience_send", ["audience_send_id", "state"], unique=False
        )
        batch_op.create_index(
            "ix_delivery_batches_audience_sent",
            ["sent_at"],
            unique=False,
            postgresql_where=_AUDIENCE_SENT,
            sqlite_where=_AUDIENCE_SENT,
        )


def downgrade() -> None:
    with op.batch_alter_table("delivery_batches", schema=None) as batch_op:
        batch_op.drop_index(
            "ix_delivery_batches_audience_sent",
            postgresql_where=_AUDIENCE_SENT,
            sqlite_where=_AUDIENCE_SENT,
        )
        batch_op.drop_index("ix_delivery_batches_audience_send")
        batch_op.drop_constraint(
            batch_op.f("fk_delivery_batches_audience_send_id_audience_sends"), type_="foreignkey"
        )
        batch_op.drop_column("sent_at")
        batch_op.drop_column("dropped")
        batch_op.drop_column("friend_ids")
        batch_op.drop_column("audience_send_id")

    with op.batch_alter_table("audience_sends", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_audience_sends_source"))

    op.drop_table("audience_sends")
