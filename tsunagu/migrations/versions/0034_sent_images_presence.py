"""inbox composer: images staff send (media rows without a friend's message, served to LINE at
an unguessable address), saved message templates, and who has a conversation open

Revision ID: 0034
Revises: 0033
Create Date: 2026-12-07 19:20:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0034"
down_revision: str | None = "0033"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("media", schema=None) as batch_op:
        batch_op.alter_column("message_id", existing_type=sa.Integer(), nullable=True)
        batch_op.alter_column("line_message_id", existing_type=sa.String(length=64), nullable=True)
        batch_op.add_column(sa.Column("public_token", sa.String(length=64), nullable=True))
        batch_op.create_unique_constraint(batch_op.f("uq_media_public_token"), ["public_token"])
    op.create_table(
        "inbox_presence",
        sa.Column("conversation_id", sa.Integer(), nullable=False),
        sa.Column("staff_user_id", sa.Integer(), nullable=False),
        sa.Column("shop_id", sa.Integer(), nullable=False),
        sa.Column("typing_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.id"],
            name=op.f("fk_inbox_presence_conversation_id_conversations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["shop_id"], ["shops.id"], name=op.f("fk_inbox_presence_shop_id_shops")
        ),
        sa.ForeignKeyConstraint(
            ["staff_user_id"],
            ["staff_users.id"],
            name=op.f("fk_inbox_presence_staff_user_id_staff_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("conversation_id", "staff_user_id", name=op.f("pk_inbox_presence")),
    )

    op.create_table(
        "message_templates",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("shop_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("messages", sa.JSON(), nullable=False),
        sa.Column("updated_by", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["shop_id"], ["shops.id"], name=op.f("fk_message_templates_shop_id_shops")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_message_templates")),
        sa.UniqueConstraint("shop_id", "name", name=op.f("uq_message_templates_shop_id_name")),
    )


def downgrade() -> None:
    op.drop_table("message_templates")
    op.drop_table("inbox_presence")
    with op.batch_alter_table("media", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_media_public_token"), type_="unique")
        batch_op.drop_column("public_token")
        batch_op.alter_column("line_message_id", existing_type=sa.String(length=64), nullable=False)
        batch_op.alter_column("message_id", existing_type=sa.Integer(), nullable=False)
