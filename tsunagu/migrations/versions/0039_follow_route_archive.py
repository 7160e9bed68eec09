"""follow routes archived: hidden from the lists, their URL answering that they ended

Revision ID: 0039
Revises: 0036
Create Date: 2026-12-07 19:20:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0039"
down_revision: str | None = "0036"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("follow_routes") as batch:
        batch.add_column(sa.Column("archived_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("follow_routes") as batch:
        batch.drop_column("archived_at")
