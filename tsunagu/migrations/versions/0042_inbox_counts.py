"""inbox counts kept as conversations change, instead of counted over every conversation

Revision ID: 0042
Revises: 0041
Create Date: 2026-12-07 23:00:00.000000

- ``inbox_counts``: conversations per (shop, channel, status, mark, assignee), ``0`` for no
  mark and for nobody assigned, in ``slot`` rows that add up. The inbox list reads its counts
  here (at most statuses x marks x staff rows a channel) rather than grouping the shop's
  conversations on every page.
- Triggers on ``conversations`` (insert, delete, and an update that moves a conversation to
  another group) add and take away in the same transaction, whichever code or tool writes the
  row. On PostgreSQL one plpgsql function, its slot chosen by server process (``pg_backend_pid()
  % 8``) so concurrent writers seldom wait on one row, and an update's two rows changed in key
  order so two transactions never take them in opposite orders; on SQLite (one writer at a time)
  the same upserts in slot 0.
- Filled from the conversations already there.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0042"
down_revision: str | None = "0041"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# What tells a conversation's group apart: an update changing none of it touches no count.
GROUP = "shop_id, channel_id, status, mark_id, assignee_id"
MOVED = (
    "OLD.shop_id IS DISTINCT FROM NEW.shop_id OR OLD.channel_id IS DISTINCT FROM NEW.channel_id"
    " OR OLD.status IS DISTINCT FROM NEW.status OR OLD.mark_id IS DISTINCT FROM NEW.mark_id"
    " OR OLD.assignee_id IS DISTINCT FROM NEW.assignee_id"
)

POSTGRESQL_FUNCTIONS = """
CREATE FUNCTION inbox_counts_add(
    p_shop integer, p_channel integer, p_status varchar, p_mark integer, p_assignee integer,
    p_delta integer
) RETURNS void LANGUAGE sql AS $$
    INSERT INTO inbox_counts AS counted
        (shop_id, channel_id, status, mark_id, assignee_id, slot, conversations)
    VALUES (p_shop, p_channel, p_status, coalesce(p_mark, 0), coalesce(p_assignee, 0),
            pg_backend_pid() % 8, p_delta)
    ON CONFLICT (shop_id, channel_id, status, mark_id, assignee_id, slot)
    DO UPDATE SET conversations = counted.conversations + excluded.conversations
$$;

CREATE FUNCTION inbox_counts_follow() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        PERFORM inbox_counts_add(NEW.shop_id, NEW.channel_id, NEW.status, NEW.mark_id,
                                 NEW.assignee_id, 1);
    ELSIF TG_OP = 'DELETE' THEN
        PERFORM inbox_counts_add(OLD.shop_id, OLD.channel_id, OLD.status, OLD.mark_id,
                                 OLD.assignee_id, -1);
    ELSIF ROW(OLD.shop_id, OLD.channel_id, OLD.status, coalesce(OLD.mark_id, 0),
              coalesce(OLD.assignee_id, 0))
        < ROW(NEW.shop_id, NEW.channel_id, NEW.status, coalesce(NEW.mark_id, 0),
              coalesce(NEW.assignee_id, 0)) THEN
        PERFORM inbox_counts_add(OLD.shop_id, OLD.channel_id, OLD.status, OLD.mark_id,
                                 OLD.assignee_id, -1);
        PERFORM inbox_counts_add(NEW.shop_id, NEW.channel_id, NEW.status, NEW.mark_id,
                                 NEW.assignee_id, 1);
    ELSE
        PERFORM inbox_counts_add(NEW.shop_id, NEW.channel_id, NEW.status, NEW.mark_id,
                                 NEW.assignee_id, 1);
        PERFORM inbox_counts_add(OLD.shop_id, OLD.channel_id, OLD.status, OLD.mark_id,
                                 OLD.assignee_id, -1);
    END IF;
    RETURN NULL;
END
$$;
"""

POSTGRESQL_TRIGGERS = (
    "CREATE TRIGGER inbox_counts_on_insert AFTER INSERT ON conversations"
    " FOR EACH ROW EXECUTE FUNCTION inbox_counts_follow()",
    "CREATE TRIGGER inbox_counts_on_delete AFTER DELETE ON conversations"
    " FOR EACH ROW EXECUTE FUNCTION inbox_counts_follow()",
    "CREATE TRIGGER inbox_counts_on_update AFTER UPDATE OF " + GROUP + " ON conversations"
    " FOR EACH ROW WHEN (" + MOVED + ") EXECUTE FUNCTION inbox_counts_follow()",
)

SQLITE_ADD_NEW = """
    INSERT INTO inbox_counts
        (shop_id, channel_id, status, mark_id, assignee_id, slot, conversations)
    VALUES (NEW.shop_id, NEW.channel_id, NEW.status, coalesce(NEW.mark_id, 0),
            coalesce(NEW.assignee_id, 0), 0, 1)
    ON CONFLICT (shop_id, channel_id, status, mark_id, assignee_id, slot)
    DO UPDATE SET conversations = conversations + excluded.conversations;
"""
SQLITE_TAKE_OLD = """
    INSERT INTO inbox_counts
        (shop_id, channel_id, status, mark_id, assignee_id, slot, conversations)
    VALUES (OLD.shop_id, OLD.channel_id, OLD.status, coalesce(OLD.mark_id, 0),
            coalesce(OLD.assignee_id, 0), 0, -1)
    ON CONFLICT (shop_id, channel_id, status, mark_id, assignee_id, slot)
    DO UPDATE SET conversations = conversations + excluded.conversations;
"""
SQLITE_TRIGGERS = (
    "CREATE TRIGGER inbox_counts_on_insert AFTER INSERT ON conversations"
    " BEGIN " + SQLITE_ADD_NEW + " END",
    "CREATE TRIGGER inbox_counts_on_delete AFTER DELETE ON conversations"
    " BEGIN " + SQLITE_TAKE_OLD + " END",
    "CREATE TRIGGER inbox_counts_on_update AFTER UPDATE OF " + GROUP + " ON conversations"
    " WHEN " + MOVED.replace("IS DISTINCT FROM", "IS NOT") + ""
    " BEGIN " + SQLITE_TAKE_OLD + SQLITE_ADD_NEW + " END",
)

BACKFILL = (
    "INSERT INTO inbox_counts"
    " (shop_id, channel_id, status, mark_id, assignee_id, slot, conversations)"
    " SELECT shop_id, channel_id, status, coalesce(mark_id, 0), coalesce(assignee_id, 0), 0,"
    " count(*) FROM conversations"
    " GROUP BY shop_id, channel_id, status, coalesce(mark_id, 0), coalesce(assignee_id, 0)"
)


def upgrade() -> None:
    op.create_table(
        "inbox_counts",
        sa.Column("shop_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("channel_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("mark_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("assignee_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("slot", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("conversations", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint(
            "shop_id",
            "channel_id",
            "status",
            "mark_id",
            "assignee_id",
            "slot",
            name=op.f("pk_inbox_counts"),
        ),
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(POSTGRESQL_FUNCTIONS)
        triggers = POSTGRESQL_TRIGGERS
    else:
        triggers = SQLITE_TRIGGERS
    op.execute(BACKFILL)
    for trigger in triggers:
        op.execute(trigger)


def downgrade() -> None:
    on_conversations = " ON conversations" if op.get_bind().dialect.name == "postgresql" else ""
    for trigger in ("inbox_counts_on_update", "inbox_counts_on_delete", "inbox_counts_on_insert"):
        op.execute("DROP TRIGGER " + trigger + on_conversations)
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION inbox_counts_follow()")
        op.execute(
            "DROP FUNCTION inbox_counts_add(integer, integer, varchar, integer, integer, integer)"
        )
    op.drop_table("inbox_counts")
