"""follow routes: routes (short code, actions, destination), visits, touches; channels' basic id

Revision ID: 0031
Revises: 0030
Create Date: 2026-12-07 15:50:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0031"
down_revision: str | None = "0030"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("channels", sa.Column("basic_id", sa.String(length=32), nullable=True))
    op.create_table(
        "follow_routes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("shop_id", sa.Integer(), nullable=False),
        sa.Column("channel_id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("window_hours", sa.Integer(), nullable=False),
        sa.Column("destination_url", sa.Text(), nullable=True),
        sa.Column("actions", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["channel_id"], ["channels.id"], name=op.f("fk_follow_routes_channel_id_channels")
        ),
        sa.ForeignKeyConstraint(
            ["shop_id"], ["shops.id"], name=op.f("fk_follow_routes_shop_id_shops")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_follow_routes")),
        sa.UniqueConstraint("code", name=op.f("uq_follow_routes_code")),
        sa.UniqueConstraint("shop_id", "name", name=op.f("uq_follow_routes_shop_id_name")),
    )
    op.create_index(op.f("ix_follow_routes_shop_id"), "follow_routes", ["shop_id"], unique=False)
    op.create_table(
        "route_visits",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("shop_id", sa.Integer(), nullable=False),
        sa.Column("channel_id", sa.Integer(), nullable=False),
        sa.Column("route_id", sa.Integer(), nullable=False),
        sa.Column("line_user_id", sa.String(length=33), nullable=True),
        sa.Column("friend_id", sa.Integer(), nullable=True),
        sa.Column("visited_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["channel_id"], ["channels.id"], name=op.f("fk_route_visits_channel_id_channels")
        ),
        sa.ForeignKeyConstraint(
            ["friend_id"], ["friends.id"], name=op.f("fk_route_visits_friend_id_friends")
        ),
        sa.ForeignKeyConstraint(
            ["route_id"], ["follow_routes.id"], name=op.f("fk_route_visits_route_id_follow_routes")
        ),
        sa.ForeignKeyConstraint(
            ["shop_id"], ["shops.id"], name=op.f("fk_route_visits_shop_id_shops")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_route_visits")),
    )
    op.create_index(
        "ix_route_visits_channel_user_at",
        "route_visits",
        ["channel_id", "line_user_id", "visited_at"],
        unique=False,
    )
    op.create_index(
        "ix_route_visits_route_at", "route_visits", ["route_id", "visited_at"], unique=False
    )
    op.create_table(
        "route_touches",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("shop_id", sa.Integer(), nullable=False),
        sa.Column("route_id", sa.Integer(), nullable=False),
        sa.Column("friend_id", sa.Integer(), nullable=False),
        sa.Column("visit_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("new_friend", sa.Boolean(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("outcome", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["friend_id"], ["friends.id"], name=op.f("fk_route_touches_friend_id_friends")
        ),
        sa.ForeignKeyConstraint(
            ["route_id"], ["follow_routes.id"], name=op.f("fk_route_touches_route_id_follow_routes")
        ),
        sa.ForeignKeyConstraint(
            ["shop_id"], ["shops.id"], name=op.f("fk_route_touches_shop_id_shops")
        ),
        sa.ForeignKeyConstraint(
            ["visit_id"], ["route_visits.id"], name=op.f("fk_route_touches_visit_id_route_visits")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_route_touches")),
        sa.UniqueConstraint("visit_id", name=op.f("uq_route_touches_visit_id")),
    )
    op.create_index(
        "ix_route_touches_friend_at", "route_touches", ["friend_id", "at"], unique=False
    )
    op.create_index("ix_route_touches_route_at", "route_touches", ["route_id", "at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_route_touches_route_at", table_name="route_touches")
    op.drop_index("ix_route_touches_friend_at", table_name="route_touches")
    op.drop_table("route_touches")
    op.drop_index("ix_route_visits_route_at", table_name="route_visits")
    op.drop_index("ix_route_visits_channel_user_at", table_name="route_visits")
    op.drop_table("route_visits")
    op.drop_index(op.f("ix_follow_routes_shop_id"), table_name="follow_routes")
    op.drop_table("follow_routes")
    op.drop_column("channels", "basic_id")
