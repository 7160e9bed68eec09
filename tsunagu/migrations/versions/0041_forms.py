"""forms: LIFF forms and surveys, who opened them, every submission (answers encrypted)

Revision ID: 0041
Revises: 0040
Create Date: 2026-12-07 19:20:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0041"
down_revision: str | None = "0040"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "forms",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("shop_id", sa.Integer(), nullable=False),
        sa.Column("channel_id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("questions", sa.JSON(), nullable=False),
        sa.Column("actions", sa.JSON(), nullable=False),
        sa.Column("policy", sa.String(length=16), nullable=False),
        sa.Column("opens_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closes_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("thanks", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["channel_id"], ["channels.id"], name=op.f("fk_forms_channel_id_channels")
        ),
        sa.ForeignKeyConstraint(["shop_id"], ["shops.id"], name=op.f("fk_forms_shop_id_shops")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_forms")),
        sa.UniqueConstraint("code", name=op.f("uq_forms_code")),
        sa.UniqueConstraint("shop_id", "name", name=op.f("uq_forms_shop_id_name")),
    )
    op.create_index(op.f("ix_forms_shop_id"), "forms", ["shop_id"], unique=False)
    op.create_table(
        "form_opens",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("shop_id", sa.Integer(), nullable=False),
        sa.Column("form_id", sa.Integer(), nullable=False),
        sa.Column("line_user_id", sa.String(length=33), nullable=True),
        sa.Column("friend_id", sa.Integer(), nullable=True),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["form_id"],
            ["forms.id"],
            name=op.f("fk_form_opens_form_id_forms"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["friend_id"], ["friends.id"], name=op.f("fk_form_opens_friend_id_friends")
        ),
        sa.ForeignKeyConstraint(
            ["shop_id"], ["shops.id"], name=op.f("fk_form_opens_shop_id_shops")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_form_opens")),
    )
    op.create_index("ix_form_opens_form_at", "form_opens", ["form_id", "opened_at"], unique=False)
    op.create_table(
        "form_submissions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("shop_id", sa.Integer(), nullable=False),
        sa.Column("form_id", sa.Integer(), nullable=False),
        sa.Column("friend_id", sa.Integer(), nullable=False),
        sa.Column("answers", sa.Text(), nullable=False),
        sa.Column("language", sa.String(length=8), nullable=False),
        sa.Column("outcome", sa.JSON(), nullable=False),
        sa.Column("submitted_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["form_id"],
            ["forms.id"],
            name=op.f("fk_form_submissions_form_id_forms"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["friend_id"], ["friends.id"], name=op.f("fk_form_submissions_friend_id_friends")
        ),
        sa.ForeignKeyConstraint(
            ["shop_id"], ["shops.id"], name=op.f("fk_form_submissions_shop_id_shops")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_form_submissions")),
    )
    op.create_index(
        "ix_form_submissions_form_id", "form_submissions", ["form_id", "id"], unique=False
    )
    op.create_index(
        "ix_form_submissions_friend_form_at",
        "form_submissions",
        ["friend_id", "form_id", "submitted_at"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_form_submissions_friend_form_at", table_name="form_submissions")
    op.drop_index("ix_form_submissions_form_id", table_name="form_submissions")
    op.drop_table("form_submissions")
    op.drop_index("ix_form_opens_form_at", table_name="form_opens")
    op.drop_table("form_opens")
    op.drop_index(op.f("ix_forms_shop_id"), table_name="forms")
    op.drop_table("forms")
