"""audience sends frozen in parts

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-07 12:45:00.000000

An audience send may be frozen in parts, each committed on its own, so its first batches leave
while the rest is frozen. ``frozen_through`` is the friend id up to which a send in the new
``freezing`` state is frozen; NULL once it is whole.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("audience_sends", sa.Column("frozen_through", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    op.drop_column("audience_sends", "frozen_through")
