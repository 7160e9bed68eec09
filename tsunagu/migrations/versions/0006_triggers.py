"""purchase triggers, scans and visit reminders: change timestamps, cursors, reminder rules

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30 04:46:54.971149

Purchases and bookings get ``updated_at`` (when the hub last wrote them), filled from
``created_at`` for existing rows. Members get ``birth_month_day``, which stays empty here: birth
dates are encrypted, so the birthday scan derives it the first time it runs.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "trigger_cursors",
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("position", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_trigger_cursors")),
    )
    op.create_table(
        "reminder_rules",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("shop_id", sa.Integer(), nullable=False),
        sa.Column("channel_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("offset_minutes", sa.Integer(), nullable=False),
        sa.Column("messages", sa.JSON(), nullable=False),
        sa.Column("inside_window", sa.String(length=16), nullable=False),
        sa.Column("respect_quiet_hours", sa.Boolean(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["channel_id"], ["channels.id"], name=op.f("fk_reminder_rules_channel_id_channels")
        ),
        sa.ForeignKeyConstraint(
            ["shop_id"], ["shops.id"], name=op.f("fk_reminder_rules_shop_id_shops")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reminder_rules")),
        sa.UniqueConstraint("shop_id", "name", name=op.f("uq_reminder_rules_shop_id_name")),
    )
    for table in ("purchases", "bookings"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True))
        rows = sa.table(table, sa.column("created_at"), sa.column("updated_at"))
        op.execute(rows.update().values(updated_at=rows.c.created_at))
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.alter_column(
                "updated_at", existing_type=sa.DateTime(timezone=True), nullable=False
            )
            batch_op.create_index(f"ix_{table}_shop_updated", ["shop_id", "updated_at"])

    with op.batch_alter_table("members", schema=None) as batch_op:
        batch_op.add_column(sa.Column("birth_month_day", sa.String(length=5), nullable=True))
        batch_op.create_index("ix_members_shop_birth_month_day", ["shop_id", "birth_month_day"])


def downgrade() -> None:
    with op.batch_alter_table("members", schema=None) as batch_op:
        batch_op.drop_index("ix_members_shop_birth_month_day")
        batch_op.drop_column("birth_month_day")
    for table in ("purchases", "bookings"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_index(f"ix_{table}_shop_updated")
            batch_op.drop_column("updated_at")
    op.drop_table("reminder_rules")
    op.drop_table("trigger_cursors")
