"""indexes the inbox list needs at 100,000 conversations

Revision ID: 0036
Revises: 0034
Create Date: 2026-12-07 19:25:00.000000

- ``conversations (shop_id, coalesce(last_message_at, epoch) DESC, id DESC)``: the list's
  order, newest activity first, walked a page at a time in the "all" view (the status index
  only serves one status); the same expression as the friends list's sort (0027).
- ``conversation_messages.text``: on PostgreSQL a trigram index (``pg_trgm``, created here if
  the server has it, as in 0025) for the inbox search, "part of a message", in Japanese as
  well; elsewhere a plain index.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0036"
down_revision: str | None = "0034"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_conversations_shop_last_activity",
        "conversations",
        [
            "shop_id",
            sa.text("coalesce(last_message_at, '1970-01-01 00:00:00+00') DESC"),
            sa.text("id DESC"),
        ],
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        op.create_index(
            "ix_conversation_messages_text_trgm",
            "conversation_messages",
            ["text"],
            postgresql_using="gin",
            postgresql_ops={"text": "gin_trgm_ops"},
        )
    else:
        op.create_index("ix_conversation_messages_text_trgm", "conversation_messages", ["text"])


def downgrade() -> None:
    op.drop_index("ix_conversation_messages_text_trgm", table_name="conversation_messages")
    op.drop_index("ix_conversations_shop_last_activity", table_name="conversations")
