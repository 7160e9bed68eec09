"""crm writebacks: the outbox of LINE link changes written back to Salesforce contacts

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22 06:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "crm_writebacks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("shop_id", sa.Integer(), nullable=False),
        sa.Column("connection_id", sa.Integer(), nullable=False),
        sa.Column("member_link_id", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("change", sa.String(length=16), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("crm_record_id", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["connection_id"],
            ["connections.id"],
            name=op.f("fk_crm_writebacks_connection_id_connections"),
        ),
        sa.ForeignKeyConstraint(
            ["member_id"], ["members.id"], name=op.f("fk_crm_writebacks_member_id_members")
        ),
        sa.ForeignKeyConstraint(
            ["member_link_id"],
            ["member_links.id"],
            name=op.f("fk_crm_writebacks_member_link_id_member_links"),
        ),
        sa.ForeignKeyConstraint(
            ["shop_id"], ["shops.id"], name=op.f("fk_crm_writebacks_shop_id_shops")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_crm_writebacks")),
        sa.UniqueConstraint(
            "connection_id",
            "member_link_id",
            "change",
            name=op.f("uq_crm_writebacks_connection_id_member_link_id_change"),
        ),
    )
    op.create_index(
        "ix_crm_writebacks_due",
        "crm_writebacks",
        ["connection_id", "state", "next_attempt_at"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_crm_writebacks_due", table_name="crm_writebacks")
    op.drop_table("crm_writebacks")
