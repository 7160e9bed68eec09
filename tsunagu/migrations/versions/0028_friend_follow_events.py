"""friend follow events: each friend's follow history (added, blocked, unblocked)

Revision ID: 0028
Revises: 0027
Create Date: 2026-12-07 14:35:00.000000

Friends who followed before this release get what the friends table knows: their first follow,
and their block if they are blocked now.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0028"
down_revision: str | None = "0027"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "friend_follow_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("shop_id", sa.Integer(), nullable=False),
        sa.Column("friend_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["friend_id"], ["friends.id"], name=op.f("fk_friend_follow_events_friend_id_friends")
        ),
        sa.ForeignKeyConstraint(
            ["shop_id"], ["shops.id"], name=op.f("fk_friend_follow_events_shop_id_shops")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_friend_follow_events")),
    )
    op.create_index(
        "ix_friend_follow_events_friend_id_at",
        "friend_follow_events",
        ["friend_id", "at"],
        unique=False,
    )
    op.execute(
        "INSERT INTO friend_follow_events (shop_id, friend_id, kind, at) "
        "SELECT shop_id, id, 'followed', first_followed_at FROM friends "
        "WHERE first_followed_at IS NOT NULL"
    )
    op.execute(
        "INSERT INTO friend_follow_events (shop_id, friend_id, kind, at) "
        "SELECT shop_id, id, 'blocked', blocked_at FROM friends "
        "WHERE status = 'blocked' AND blocked_at IS NOT NULL"
    )


def downgrade() -> None:
    op.drop_index("ix_friend_follow_events_friend_id_at", table_name="friend_follow_events")
    op.drop_table("friend_follow_events")
