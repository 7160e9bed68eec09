"""bulk set field: a bulk action over the friends list may set a custom field

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-07 14:10:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0026"
down_revision: str | None = "0025"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("friend_bulk_jobs") as batch:
        batch.add_column(sa.Column("field_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("field_value", sa.JSON(), nullable=True))
        batch.create_foreign_key(
            "fk_friend_bulk_jobs_field_id_field_definitions",
            "field_definitions",
            ["field_id"],
            ["id"],
            ondelete="CASCADE",
        )


def downgrade() -> None:
    with op.batch_alter_table("friend_bulk_jobs") as batch:
        batch.drop_constraint("fk_friend_bulk_jobs_field_id_field_definitions", type_="foreignkey")
        batch.drop_column("field_value")
        batch.drop_column("field_id")
