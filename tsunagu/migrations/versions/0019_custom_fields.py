"""custom fields (友だち情報欄): definitions per shop and friends' values

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-07 12:40:00.000000

``field_definitions`` holds each shop's fields (key, label, type, choices, order);
``friend_field_values`` a friend's value of a field in the column of its type, one row per
chosen choice for multiple-choice fields.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "field_definitions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("shop_id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("label", sa.String(length=100), nullable=False),
        sa.Column("type", sa.String(length=16), nullable=False),
        sa.Column("choices", sa.JSON(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["shop_id"], ["shops.id"], name=op.f("fk_field_definitions_shop_id_shops")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_field_definitions")),
        sa.UniqueConstraint("shop_id", "key", name=op.f("uq_field_definitions_shop_id_key")),
    )
    op.create_table(
        "friend_field_values",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("shop_id", sa.Integer(), nullable=False),
        sa.Column("friend_id", sa.Integer(), nullable=False),
        sa.Column("field_id", sa.Integer(), nullable=False),
        sa.Column("text", sa.String(length=500), nullable=True),
        sa.Column("number", sa.Numeric(precision=18, scale=4), nullable=True),
        sa.Column("day", sa.Date(), nullable=True),
        sa.Column("flag", sa.Boolean(), nullable=True),
        sa.Column("set_by", sa.String(length=200), nullable=False),
        sa.Column("set_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["field_id"],
            ["field_definitions.id"],
            name=op.f("fk_friend_field_values_field_id_field_definitions"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["friend_id"],
            ["friends.id"],
            name=op.f("fk_friend_field_values_friend_id_friends"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["shop_id"], ["shops.id"], name=op.f("fk_friend_field_values_shop_id_shops")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_friend_field_values")),
    )
    with op.batch_alter_table("friend_field_values", schema=None) as batch_op:
        batch_op.create_index("ix_friend_field_values_friend", ["friend_id", "field_id"])
        batch_op.create_index("ix_friend_field_values_text", ["field_id", "text"])
        batch_op.create_index("ix_friend_field_values_number", ["field_id", "number"])
        batch_op.create_index("ix_friend_field_values_day", ["field_id", "day"])


def downgrade() -> None:
    op.drop_table("friend_field_values")
    op.drop_table("field_definitions")
