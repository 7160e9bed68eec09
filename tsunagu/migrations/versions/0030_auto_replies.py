"""auto-replies: keyword rules, FAQ entries, and the hits that answered friends' messages

Revision ID: 0030
Revises: 0029
Create Date: 2026-12-07 16:00:00.000000
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0030"
down_revision: str | None = "0029"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _owned(table: str) -> list[Any]:
    return [
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("shop_id", sa.Integer(), nullable=False),
        sa.Column("channel_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["shop_id"], ["shops.id"], name=op.f(f"fk_{table}_shop_id_shops")),
        sa.ForeignKeyConstraint(
            ["channel_id"], ["channels.id"], name=op.f(f"fk_{table}_channel_id_channels")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{table}")),
        sa.UniqueConstraint("shop_id", "name", name=op.f(f"uq_{table}_shop_id_name")),
    ]


def upgrade() -> None:
    op.create_table(
        "auto_reply_rules",
        *_owned("auto_reply_rules"),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("match", sa.String(length=16), nullable=False),
        sa.Column("pattern", sa.String(length=200), nullable=False),
        sa.Column("spec", sa.JSON(), nullable=False),
    )
    op.create_index(
        op.f("ix_auto_reply_rules_channel_id"), "auto_reply_rules", ["channel_id"], unique=False
    )
    op.create_table(
        "faq_entries",
        *_owned("faq_entries"),
        sa.Column("questions", sa.JSON(), nullable=False),
        sa.Column("answer", sa.Text(), nullable=False),
        sa.Column("threshold", sa.Float(), nullable=False),
    )
    op.create_index(op.f("ix_faq_entries_channel_id"), "faq_entries", ["channel_id"], unique=False)
    op.create_table(
        "auto_reply_hits",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("shop_id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column("friend_id", sa.Integer(), nullable=False),
        sa.Column("rule_id", sa.Integer(), nullable=True),
        sa.Column("faq_id", sa.Integer(), nullable=True),
        sa.Column("score", sa.Float(), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["shop_id"], ["shops.id"], name=op.f("fk_auto_reply_hits_shop_id_shops")
        ),
        sa.ForeignKeyConstraint(
            ["event_id"],
            ["inbound_events.id"],
            name=op.f("fk_auto_reply_hits_event_id_inbound_events"),
        ),
        sa.ForeignKeyConstraint(
            ["friend_id"], ["friends.id"], name=op.f("fk_auto_reply_hits_friend_id_friends")
        ),
        sa.ForeignKeyConstraint(
            ["rule_id"],
            ["auto_reply_rules.id"],
            name=op.f("fk_auto_reply_hits_rule_id_auto_reply_rules"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["faq_id"],
            ["faq_entries.id"],
            name=op.f("fk_auto_reply_hits_faq_id_faq_entries"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_auto_reply_hits")),
        sa.UniqueConstraint("event_id", name=op.f("uq_auto_reply_hits_event_id")),
    )
    op.create_index(
        "ix_auto_reply_hits_rule_friend",
        "auto_reply_hits",
        ["rule_id", "friend_id", "at"],
        unique=False,
    )
    op.create_index("ix_auto_reply_hits_faq_id", "auto_reply_hits", ["faq_id"], unique=False)
    op.create_index(
        op.f("ix_auto_reply_hits_friend_id"), "auto_reply_hits", ["friend_id"], unique=False
    )


def downgrade() -> None:
    op.drop_table("auto_reply_hits")
    op.drop_table("faq_entries")
    op.drop_table("auto_reply_rules")
