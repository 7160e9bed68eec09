"""audience batches keep their friends' LINE user ids; an index of the friends who left

Revision ID: 0043
Revises: 0042
Create Date: 2026-12-07 23:20:00.000000

- ``delivery_batches.user_ids``: frozen with ``friend_ids``, element for element, so that
  claiming a batch reads its recipients instead of looking up each of its 500 friends again.
  Batches frozen before this revision have none and are claimed as before.
  On PostgreSQL they are stored uncompressed (``STORAGE EXTERNAL``).
- ``friends (channel_id, id) WHERE status <> 'followed'``: the friends who blocked the account
  or were erased; a claim looks for them in each batch's range of ids.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0043"
down_revision: str | None = "0042"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LEFT = sa.text("status <> 'followed'")


def upgrade() -> None:
    with op.batch_alter_table("delivery_batches", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "user_ids",
                sa.JSON().with_variant(postgresql.ARRAY(sa.String(length=33)), "postgresql"),
                nullable=True,
            )
        )
    if op.get_bind().dialect.name == "postgresql":
        # Stored out of line uncompressed: user ids are hex and compress little, and pglz on
        # every frozen batch and again on every claim cost more than the bytes it saved.
        op.execute("ALTER TABLE delivery_batches ALTER COLUMN user_ids SET STORAGE EXTERNAL")
    op.create_index(
        "ix_friends_channel_left",
        "friends",
        ["channel_id", "id"],
        postgresql_where=LEFT,
        sqlite_where=LEFT,
    )


def downgrade() -> None:
    op.drop_index("ix_friends_channel_left", table_name="friends")
    with op.batch_alter_table("delivery_batches", schema=None) as batch_op:
        batch_op.drop_column("user_ids")
