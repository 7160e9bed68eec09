"""privacy: purged delivery contents, consent per purpose

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07 03:50:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("delivery_contents") as batch:
        batch.add_column(sa.Column("purged_at", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("consents") as batch:
        for purpose in ("marketing", "service"):
            batch.add_column(
                sa.Column(
                    f"{purpose}_withdrawn",
                    sa.Boolean(),
                    server_default=sa.text("false"),
                    nullable=False,
                )
            )
    op.create_table(
        "consent_records",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("shop_id", sa.Integer(), nullable=False),
        sa.Column("friend_id", sa.Integer(), nullable=False),
        sa.Column("purpose", sa.String(length=16), nullable=False),
        sa.Column("granted", sa.Boolean(), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("recorded_by", sa.String(length=200), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["friend_id"], ["friends.id"], name=op.f("fk_consent_records_friend_id_friends")
        ),
        sa.ForeignKeyConstraint(
            ["shop_id"], ["shops.id"], name=op.f("fk_consent_records_shop_id_shops")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_consent_records")),
    )
    op.create_index("ix_consent_records_friend", "consent_records", ["friend_id", "purpose", "id"])


def downgrade() -> None:
    op.drop_index("ix_consent_records_friend", table_name="consent_records")
    op.drop_table("consent_records")
    with op.batch_alter_table("consents") as batch:
        batch.drop_column("service_withdrawn")
        batch.drop_column("marketing_withdrawn")
    with op.batch_alter_table("delivery_contents") as batch:
        batch.drop_column("purged_at")
