"""privacy: rich menu unlinks an erasure leaves for LINE

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-07 13:00:00.000000

An erased friend's LINE user is returned to the channel's default rich menu by a retrying job;
the row holds the (encrypted) user id until LINE accepts, then goes.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0023"
down_revision: str | None = "0022"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "privacy_rich_menu_unlinks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("shop_id", sa.Integer(), nullable=False),
        sa.Column("channel_id", sa.Integer(), nullable=False),
        sa.Column("line_user_id", sa.Text(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["channel_id"],
            ["channels.id"],
            name=op.f("fk_privacy_rich_menu_unlinks_channel_id_channels"),
        ),
        sa.ForeignKeyConstraint(
            ["shop_id"], ["shops.id"], name=op.f("fk_privacy_rich_menu_unlinks_shop_id_shops")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_privacy_rich_menu_unlinks")),
    )
    op.create_index(
        "ix_privacy_rich_menu_unlinks_due", "privacy_rich_menu_unlinks", ["next_attempt_at"]
    )


def downgrade() -> None:
    op.drop_index("ix_privacy_rich_menu_unlinks_due", table_name="privacy_rich_menu_unlinks")
    op.drop_table("privacy_rich_menu_unlinks")
