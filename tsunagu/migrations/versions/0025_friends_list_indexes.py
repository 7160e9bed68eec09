"""indexes the friends list needs at 1,000,000 friends

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-07 13:10:00.000000

- ``friend_tags (tag_id, friend_id)``: a tag's friends (tag filters, bulk actions); the primary
  key (friend_id, tag_id) only serves a friend's tags.
- ``member_links (member_id)``: from the members a search found to their friends.
- ``friends.display_name``: on PostgreSQL a trigram index (``pg_trgm``, created here if the
  server has it: it ships with PostgreSQL's contrib package) for "part of the display name";
  elsewhere a plain index.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0025"
down_revision: str | None = "0024"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_friend_tags_tag_friend", "friend_tags", ["tag_id", "friend_id"])
    op.create_index("ix_member_links_member", "member_links", ["member_id"])
    if op.get_bind().dialect.name == "postgresql":
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        op.create_index(
            "ix_friends_display_name_trgm",
            "friends",
            ["display_name"],
            postgresql_using="gin",
            postgresql_ops={"display_name": "gin_trgm_ops"},
        )
    else:
        op.create_index("ix_friends_display_name_trgm", "friends", ["display_name"])


def downgrade() -> None:
    op.drop_index("ix_friends_display_name_trgm", table_name="friends")
    op.drop_index("ix_member_links_member", table_name="member_links")
    op.drop_index("ix_friend_tags_tag_friend", table_name="friend_tags")
