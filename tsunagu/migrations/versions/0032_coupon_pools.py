"""coupon pools: per-friend Shopify codes, their bulk creations, and a campaign's pool

Revision ID: 0032
Revises: 0031
Create Date: 2026-12-07 15:50:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0032"
down_revision: str | None = "0031"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "coupon_pools",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("shop_id", sa.Integer(), nullable=False),
        sa.Column("connection_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("title", sa.String(length=255), nullable=False),
        sa.Column("discount_id", sa.String(length=255), nullable=False),
        sa.Column("code_prefix", sa.String(length=20), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["connection_id"],
            ["connections.id"],
            name=op.f("fk_coupon_pools_connection_id_connections"),
        ),
        sa.ForeignKeyConstraint(
            ["shop_id"], ["shops.id"], name=op.f("fk_coupon_pools_shop_id_shops")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_coupon_pools")),
        sa.UniqueConstraint("shop_id", "name", name=op.f("uq_coupon_pools_shop_id_name")),
    )
    op.create_table(
        "coupon_batches",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("pool_id", sa.Integer(), nullable=False),
        sa.Column("bulk_creation_id", sa.String(length=255), nullable=True),
        sa.Column("done", sa.Boolean(), nullable=False),
        sa.Column("codes_count", sa.Integer(), nullable=False),
        sa.Column("imported_count", sa.Integer(), nullable=False),
        sa.Column("failed_count", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["pool_id"], ["coupon_pools.id"], name=op.f("fk_coupon_batches_pool_id_coupon_pools")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_coupon_batches")),
    )
    op.create_index(op.f("ix_coupon_batches_pool_id"), "coupon_batches", ["pool_id"])
    op.create_table(
        "coupon_codes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("shop_id", sa.Integer(), nullable=False),
        sa.Column("pool_id", sa.Integer(), nullable=False),
        sa.Column("batch_id", sa.Integer(), nullable=True),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("code_key", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("friend_id", sa.Integer(), nullable=True),
        sa.Column("assigned_for", sa.String(length=128), nullable=True),
        sa.Column("campaign_id", sa.Integer(), nullable=True),
        sa.Column("assigned_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("purchase_id", sa.Integer(), nullable=True),
        sa.Column("redeemed_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["batch_id"],
            ["coupon_batches.id"],
            name=op.f("fk_coupon_codes_batch_id_coupon_batches"),
        ),
        sa.ForeignKeyConstraint(
            ["campaign_id"], ["campaigns.id"], name=op.f("fk_coupon_codes_campaign_id_campaigns")
        ),
        sa.ForeignKeyConstraint(
            ["friend_id"], ["friends.id"], name=op.f("fk_coupon_codes_friend_id_friends")
        ),
        sa.ForeignKeyConstraint(
            ["pool_id"], ["coupon_pools.id"], name=op.f("fk_coupon_codes_pool_id_coupon_pools")
        ),
        sa.ForeignKeyConstraint(
            ["purchase_id"], ["purchases.id"], name=op.f("fk_coupon_codes_purchase_id_purchases")
        ),
        sa.ForeignKeyConstraint(
            ["shop_id"], ["shops.id"], name=op.f("fk_coupon_codes_shop_id_shops")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_coupon_codes")),
        sa.UniqueConstraint(
            "pool_id",
            "assigned_for",
            "friend_id",
            name=op.f("uq_coupon_codes_pool_id_assigned_for_friend_id"),
        ),
        sa.UniqueConstraint("shop_id", "code_key", name=op.f("uq_coupon_codes_shop_id_code_key")),
    )
    op.create_index(
        "ix_coupon_codes_pool_status_friend", "coupon_codes", ["pool_id", "status", "friend_id"]
    )
    op.create_index("ix_coupon_codes_campaign", "coupon_codes", ["campaign_id"])
    with op.batch_alter_table("campaigns") as batch:
        batch.add_column(sa.Column("coupon_pool_id", sa.Integer(), nullable=True))
        batch.create_foreign_key(
            op.f("fk_campaigns_coupon_pool_id_coupon_pools"),
            "coupon_pools",
            ["coupon_pool_id"],
            ["id"],
        )


def downgrade() -> None:
    with op.batch_alter_table("campaigns") as batch:
        batch.drop_constraint(op.f("fk_campaigns_coupon_pool_id_coupon_pools"), type_="foreignkey")
        batch.drop_column("coupon_pool_id")
    op.drop_index("ix_coupon_codes_campaign", table_name="coupon_codes")
    op.drop_index("ix_coupon_codes_pool_status_friend", table_name="coupon_codes")
    op.drop_table("coupon_codes")
    op.drop_index(op.f("ix_coupon_batches_pool_id"), table_name="coupon_batches")
    op.drop_table("coupon_batches")
    op.drop_table("coupon_pools")
