"""tags: colour and folder; friend_tag_events, each friend's tag history

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-07 12:40:00.000000

Existing tags become gray and folderless. The history starts empty: the tags friends carry
today keep their ``friend_tags.source``, which the chart still shows.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("tags") as batch:
        batch.add_column(
            sa.Column("colour", sa.String(length=16), server_default="gray", nullable=False)
        )
        batch.add_column(sa.Column("folder", sa.String(length=100), nullable=True))
    op.create_table(
        "friend_tag_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("shop_id", sa.Integer(), nullable=False),
        sa.Column("friend_id", sa.Integer(), nullable=False),
        sa.Column("tag_name", sa.String(length=100), nullable=False),
        sa.Column("added", sa.Boolean(), nullable=False),
        sa.Column("source", sa.String(length=200), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["friend_id"], ["friends.id"], name=op.f("fk_friend_tag_events_friend_id_friends")
        ),
        sa.ForeignKeyConstraint(
            ["shop_id"], ["shops.id"], name=op.f("fk_friend_tag_events_shop_id_shops")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_friend_tag_events")),
    )
    op.create_index(
        "ix_friend_tag_events_friend_id_at", "friend_tag_events", ["friend_id", "at"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_friend_tag_events_friend_id_at", table_name="friend_tag_events")
    op.drop_table("friend_tag_events")
    with op.batch_alter_table("tags") as batch:
        batch.drop_column("folder")
        batch.drop_column("colour")
