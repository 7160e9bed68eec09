"""friends.last_message_at: the friends list's last-message filter and sort on a column

Revision ID: 0027
Revises: 0026
Create Date: 2026-12-07 14:05:00.000000

``friends.last_message_at`` is when the friend last sent the shop a message, kept as messages
are stored; it is backfilled here from ``conversation_messages`` (one UPDATE) and indexed with
the shop, so the list no longer reads the conversation once per friend; a second index on the
list's sort key (``coalesce(last_message_at, epoch) DESC, id DESC``) serves its pages in order.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0027"
down_revision: str | None = "0026"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "friends", sa.Column("last_message_at", sa.DateTime(timezone=True), nullable=True)
    )
    op.execute(
        "UPDATE friends SET last_message_at = ("
        " SELECT max(m.occurred_at) FROM conversation_messages m"
        " WHERE m.friend_id = friends.id AND m.direction = 'in')"
        " WHERE EXISTS (SELECT 1 FROM conversation_messages m"
        " WHERE m.friend_id = friends.id AND m.direction = 'in')"
    )
    op.create_index("ix_friends_shop_last_message", "friends", ["shop_id", "last_message_at"])
    op.create_index(
        "ix_friends_last_message_sort",
        "friends",
        [
            "shop_id",
            sa.text("coalesce(last_message_at, '1970-01-01 00:00:00+00') DESC"),
            sa.text("id DESC"),
        ],
    )


def downgrade() -> None:
    op.drop_index("ix_friends_last_message_sort", table_name="friends")
    op.drop_index("ix_friends_shop_last_message", table_name="friends")
    op.drop_column("friends", "last_message_at")
