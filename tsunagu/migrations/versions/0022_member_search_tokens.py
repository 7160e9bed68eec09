"""member search tokens: a keyed blind index of members' names

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-07 12:40:00.000000

Names are encrypted, so the tokens can only be computed by the hub with its secret key: after
this upgrade run ``tsunagu member reindex`` once to index the members already stored (members
written from now on are indexed as they are written).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0022"
down_revision: str | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "member_search_tokens",
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("token", sa.String(length=32), nullable=False),
        sa.Column("shop_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["member_id"],
            ["members.id"],
            name=op.f("fk_member_search_tokens_member_id_members"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["shop_id"], ["shops.id"], name=op.f("fk_member_search_tokens_shop_id_shops")
        ),
        sa.PrimaryKeyConstraint("member_id", "token", name=op.f("pk_member_search_tokens")),
    )
    op.create_index(
        "ix_member_search_tokens_shop_token", "member_search_tokens", ["shop_id", "token"]
    )


def downgrade() -> None:
    op.drop_index("ix_member_search_tokens_shop_token", table_name="member_search_tokens")
    op.drop_table("member_search_tokens")
