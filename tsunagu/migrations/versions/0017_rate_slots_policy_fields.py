"""rate slots, and send policies that inherit field by field

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-07 04:30:00.000000

``rate_slots`` holds the shared rate limiter's next slot per key, for hubs on PostgreSQL without
Redis.

Send policies used to be whole: a prefix's row replaced the shop's default, and NULL quiet
hours or caps meant "none". A campaign with caps therefore saved a copy of the shop's quiet
hours, which a later change of the shop's hours never reached. From now on NULL means "not set
here: the shorter prefix's applies", and "none" is stored as ``off`` (quiet hours) or 0 (caps).
Existing rows keep what they did as far as the new meaning allows:

- Rows other than campaigns' keep their behaviour exactly: NULL quiet hours become ``off``, and
  the NULL caps of a prefix's row become 0 (the shop default's stay NULL: the built-in default
  is no cap, the same).
- A campaign's row (``campaign:<id>``) only ever held a copy of the shop's quiet hours, so it
  now inherits them: unchanged while the shop keeps its hours, following them when it changes
  them, which was the intent. A cap the campaign left unset follows the shop's cap from now on,
  as it does for a campaign saved after this release; before, it meant no such cap.

The downgrade writes into every row the quiet hours and caps it inherits now (22:00-08:00 when
nothing sets quiet hours), then turns ``off`` and 0 back into NULL.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# A campaign's own row is ``campaign:<id>`` of one of the shop's campaigns.
UPGRADE = [
    """UPDATE send_policies SET quiet_start = NULL, quiet_end = NULL
    WHERE source_prefix IN (SELECT 'campaign:' || CAST(c.id AS VARCHAR) FROM campaigns AS c
        WHERE c.shop_id = send_policies.shop_id)""",
    """UPDATE send_policies SET quiet_start = 'off', quiet_end = 'off'
    WHERE quiet_start IS NULL AND NOT (source_prefix IN (
        SELECT 'campaign:' || CAST(c.id AS VARCHAR) FROM campaigns AS c
        WHERE c.shop_id = send_policies.shop_id))""",
    """UPDATE send_policies SET per_day = 0
    WHERE per_day IS NULL AND source_prefix <> ''
    AND NOT (source_prefix IN (
        SELECT 'campaign:' || CAST(c.id AS VARCHAR) FROM campaigns AS c
        WHERE c.shop_id = send_policies.shop_id))""",
    """UPDATE send_policies SET per_week = 0
    WHERE per_week IS NULL AND source_prefix <> ''
    AND NOT (source_prefix IN (
        SELECT 'campaign:' || CAST(c.id AS VARCHAR) FROM campaigns AS c
        WHERE c.shop_id = send_policies.shop_id))""",
]

# Every field a row inherits gets the value it inherits now, then "none" becomes NULL again.
DOWNGRADE = [
    """UPDATE send_policies SET quiet_start = COALESCE((SELECT d.quiet_start FROM send_policies AS d
        WHERE d.shop_id = send_policies.shop_id AND d.source_prefix = ''), '22:00'),
        quiet_end = COALESCE((SELECT d.quiet_end FROM send_policies AS d
        WHERE d.shop_id = send_policies.shop_id AND d.source_prefix = ''), '08:00')
    WHERE quiet_start IS NULL AND source_prefix <> ''""",
    """UPDATE send_policies SET quiet_start = '22:00', quiet_end = '08:00'
    WHERE quiet_start IS NULL""",
    """UPDATE send_policies SET per_day = (SELECT d.per_day FROM send_policies AS d
        WHERE d.shop_id = send_policies.shop_id AND d.source_prefix = '')
    WHERE per_day IS NULL AND source_prefix <> ''""",
    """UPDATE send_policies SET per_week = (SELECT d.per_week FROM send_policies AS d
        WHERE d.shop_id = send_policies.shop_id AND d.source_prefix = '')
    WHERE per_week IS NULL AND source_prefix <> ''""",
    "UPDATE send_policies SET per_day = NULL WHERE per_day = 0",
    "UPDATE send_policies SET per_week = NULL WHERE per_week = 0",
    "UPDATE send_policies SET quiet_start = NULL, quiet_end = NULL WHERE quiet_start = 'off'",
]


def upgrade() -> None:
    op.create_table(
        "rate_slots",
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("next_slot_us", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_rate_slots")),
    )
    for statement in UPGRADE:
        op.execute(statement)


def downgrade() -> None:
    for statement in DOWNGRADE:
        op.execute(statement)
    op.drop_table("rate_slots")
