"""tag rules and their hits; standalone tracked links (a friend's code of one points to it)

Revision ID: 0040
Revises: 0039
Create Date: 2026-12-07 19:10:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0040"
down_revision: str | None = "0039"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "tag_rules",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("shop_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("trigger", sa.JSON(), nullable=False),
        sa.Column("add_tags", sa.JSON(), nullable=False),
        sa.Column("remove_tags", sa.JSON(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("active_since", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["shop_id"], ["shops.id"], name=op.f("fk_tag_rules_shop_id_shops")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tag_rules")),
        sa.UniqueConstraint("shop_id", "name", name=op.f("uq_tag_rules_shop_id_name")),
    )
    with op.batch_alter_table("tag_rules") as batch:
        batch.create_index(batch.f("ix_tag_rules_shop_id"), ["shop_id"], unique=False)
    op.create_table(
        "tag_rule_hits",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("shop_id", sa.Integer(), nullable=False),
        sa.Column("rule_id", sa.Integer(), nullable=False),
        sa.Column("friend_id", sa.Integer(), nullable=False),
        sa.Column("event_key", sa.String(length=120), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["friend_id"], ["friends.id"], name=op.f("fk_tag_rule_hits_friend_id_friends")
        ),
        sa.ForeignKeyConstraint(
            ["rule_id"],
            ["tag_rules.id"],
            name=op.f("fk_tag_rule_hits_rule_id_tag_rules"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["shop_id"], ["shops.id"], name=op.f("fk_tag_rule_hits_shop_id_shops")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tag_rule_hits")),
        sa.UniqueConstraint(
            "rule_id",
            "friend_id",
            "event_key",
            name=op.f("uq_tag_rule_hits_rule_id_friend_id_event_key"),
        ),
    )
    with op.batch_alter_table("tag_rule_hits") as batch:
        batch.create_index("ix_tag_rule_hits_rule_at", ["rule_id", "at"], unique=False)
        batch.create_index("ix_tag_rule_hits_friend", ["friend_id"], unique=False)
    op.create_table(
        "standalone_links",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("shop_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("tag", sa.String(length=100), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["shop_id"], ["shops.id"], name=op.f("fk_standalone_links_shop_id_shops")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_standalone_links")),
        sa.UniqueConstraint("shop_id", "name", name=op.f("uq_standalone_links_shop_id_name")),
    )
    with op.batch_alter_table("standalone_links") as batch:
        batch.create_index(batch.f("ix_standalone_links_shop_id"), ["shop_id"], unique=False)
    with op.batch_alter_table("tracked_links") as batch:
        batch.add_column(sa.Column("link_id", sa.Integer(), nullable=True))
        batch.create_foreign_key(
            batch.f("fk_tracked_links_link_id_standalone_links"),
            "standalone_links",
            ["link_id"],
            ["id"],
        )
        batch.create_index("ix_tracked_links_link_friend", ["link_id", "friend_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("tracked_links") as batch:
        batch.drop_index("ix_tracked_links_link_friend")
        batch.drop_constraint(
            batch.f("fk_tracked_links_link_id_standalone_links"), type_="foreignkey"
        )
        batch.drop_column("link_id")
    with op.batch_alter_table("standalone_links") as batch:
        batch.drop_index(batch.f("ix_standalone_links_shop_id"))
    op.drop_table("standalone_links")
    with op.batch_alter_table("tag_rule_hits") as batch:
        batch.drop_index("ix_tag_rule_hits_friend")
        batch.drop_index("ix_tag_rule_hits_rule_at")
    op.drop_table("tag_rule_hits")
    with op.batch_alter_table("tag_rules") as batch:
        batch.drop_index(batch.f("ix_tag_rules_shop_id"))
    op.drop_table("tag_rules")
