"""inbox: conversations, their changes, marks, canned replies, replies, notes, mentions

Revision ID: 0029
Revises: 0028
Create Date: 2026-12-07 15:33:15.517867
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0029"
down_revision: str | None = "0028"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "inbox_signals",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("shop_id", sa.Integer(), nullable=False),
        sa.Column("channel_id", sa.Integer(), nullable=False),
        sa.Column("conversation_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["shop_id"], ["shops.id"], name=op.f("fk_inbox_signals_shop_id_shops")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inbox_signals")),
    )
    op.create_index(op.f("ix_inbox_signals_at"), "inbox_signals", ["at"], unique=False)
    op.create_table(
        "canned_replies",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("shop_id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("title", sa.String(length=100), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["shop_id"], ["shops.id"], name=op.f("fk_canned_replies_shop_id_shops")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_canned_replies")),
        sa.UniqueConstraint("shop_id", "code", name=op.f("uq_canned_replies_shop_id_code")),
    )
    op.create_table(
        "inbox_marks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("shop_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=50), nullable=False),
        sa.Column("colour", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["shop_id"], ["shops.id"], name=op.f("fk_inbox_marks_shop_id_shops")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inbox_marks")),
        sa.UniqueConstraint("shop_id", "name", name=op.f("uq_inbox_marks_shop_id_name")),
    )
    op.create_table(
        "inbox_channel_settings",
        sa.Column("channel_id", sa.Integer(), nullable=False),
        sa.Column("read_manually", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["channel_id"],
            ["channels.id"],
            name=op.f("fk_inbox_channel_settings_channel_id_channels"),
        ),
        sa.PrimaryKeyConstraint("channel_id", name=op.f("pk_inbox_channel_settings")),
    )
    op.create_table(
        "conversations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("shop_id", sa.Integer(), nullable=False),
        sa.Column("channel_id", sa.Integer(), nullable=False),
        sa.Column("friend_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("status_changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("mark_id", sa.Integer(), nullable=True),
        sa.Column("assignee_id", sa.Integer(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("waiting_since", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_message_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_read_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("snoozed_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("cycle_started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("first_replied_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("read_token", sa.String(length=200), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["assignee_id"],
            ["staff_users.id"],
            name=op.f("fk_conversations_assignee_id_staff_users"),
        ),
        sa.ForeignKeyConstraint(
            ["channel_id"], ["channels.id"], name=op.f("fk_conversations_channel_id_channels")
        ),
        sa.ForeignKeyConstraint(
            ["friend_id"], ["friends.id"], name=op.f("fk_conversations_friend_id_friends")
        ),
        sa.ForeignKeyConstraint(
            ["mark_id"], ["inbox_marks.id"], name=op.f("fk_conversations_mark_id_inbox_marks")
        ),
        sa.ForeignKeyConstraint(
            ["shop_id"], ["shops.id"], name=op.f("fk_conversations_shop_id_shops")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_conversations")),
        sa.UniqueConstraint("friend_id", name=op.f("uq_conversations_friend_id")),
    )
    with op.batch_alter_table("conversations", schema=None) as batch_op:
        batch_op.create_index(
            "ix_conversations_shop_assignee", ["shop_id", "assignee_id"], unique=False
        )
        batch_op.create_index(
            "ix_conversations_shop_status_last",
            ["shop_id", "status", "last_message_at"],
            unique=False,
        )

    op.create_table(
        "conversation_changes",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("shop_id", sa.Integer(), nullable=False),
        sa.Column("conversation_id", sa.Integer(), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("before", sa.String(length=200), nullable=True),
        sa.Column("after", sa.String(length=200), nullable=True),
        sa.Column("seconds", sa.Integer(), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.id"],
            name=op.f("fk_conversation_changes_conversation_id_conversations"),
        ),
        sa.ForeignKeyConstraint(
            ["shop_id"], ["shops.id"], name=op.f("fk_conversation_changes_shop_id_shops")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_conversation_changes")),
    )
    with op.batch_alter_table("conversation_changes", schema=None) as batch_op:
        batch_op.create_index(
            "ix_conversation_changes_conversation", ["conversation_id", "id"], unique=False
        )
        batch_op.create_index(
            "ix_conversation_changes_shop_kind_at", ["shop_id", "kind", "at"], unique=False
        )

    op.create_table(
        "conversation_notes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("shop_id", sa.Integer(), nullable=False),
        sa.Column("conversation_id", sa.Integer(), nullable=False),
        sa.Column("author", sa.String(length=200), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.id"],
            name=op.f("fk_conversation_notes_conversation_id_conversations"),
        ),
        sa.ForeignKeyConstraint(
            ["shop_id"], ["shops.id"], name=op.f("fk_conversation_notes_shop_id_shops")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_conversation_notes")),
    )
    with op.batch_alter_table("conversation_notes", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_conversation_notes_conversation_id"), ["conversation_id"], unique=False
        )

    op.create_table(
        "conversation_replies",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("shop_id", sa.Integer(), nullable=False),
        sa.Column("conversation_id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column(
            "delivery_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("author", sa.String(length=200), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("free", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.id"],
            name=op.f("fk_conversation_replies_conversation_id_conversations"),
        ),
        sa.ForeignKeyConstraint(
            ["shop_id"], ["shops.id"], name=op.f("fk_conversation_replies_shop_id_shops")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_conversation_replies")),
        sa.UniqueConstraint("shop_id", "key", name=op.f("uq_conversation_replies_shop_id_key")),
    )
    with op.batch_alter_table("conversation_replies", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_conversation_replies_conversation_id"), ["conversation_id"], unique=False
        )

    op.create_table(
        "staff_notifications",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("shop_id", sa.Integer(), nullable=False),
        sa.Column("staff_user_id", sa.Integer(), nullable=False),
        sa.Column("conversation_id", sa.Integer(), nullable=False),
        sa.Column("note_id", sa.Integer(), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("read_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.id"],
            name=op.f("fk_staff_notifications_conversation_id_conversations"),
        ),
        sa.ForeignKeyConstraint(
            ["note_id"],
            ["conversation_notes.id"],
            name=op.f("fk_staff_notifications_note_id_conversation_notes"),
        ),
        sa.ForeignKeyConstraint(
            ["shop_id"], ["shops.id"], name=op.f("fk_staff_notifications_shop_id_shops")
        ),
        sa.ForeignKeyConstraint(
            ["staff_user_id"],
            ["staff_users.id"],
            name=op.f("fk_staff_notifications_staff_user_id_staff_users"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_staff_notifications")),
    )
    with op.batch_alter_table("staff_notifications", schema=None) as batch_op:
        batch_op.create_index(
            "ix_staff_notifications_user", ["staff_user_id", "read_at"], unique=False
        )


def downgrade() -> None:
    op.drop_index(op.f("ix_inbox_signals_at"), table_name="inbox_signals")
    op.drop_table("inbox_signals")
    with op.batch_alter_table("staff_notifications", schema=None) as batch_op:
        batch_op.drop_index("ix_staff_notifications_user")

    op.drop_table("staff_notifications")
    with op.batch_alter_table("conversation_replies", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_conversation_replies_conversation_id"))

    op.drop_table("conversation_replies")
    with op.batch_alter_table("conversation_notes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_conversation_notes_conversation_id"))

    op.drop_table("conversation_notes")
    with op.batch_alter_table("conversation_changes", schema=None) as batch_op:
        batch_op.drop_index("ix_conversation_changes_shop_kind_at")
        batch_op.drop_index("ix_conversation_changes_conversation")

    op.drop_table("conversation_changes")
    with op.batch_alter_table("conversations", schema=None) as batch_op:
        batch_op.drop_index("ix_conversations_shop_status_last")
        batch_op.drop_index("ix_conversations_shop_assignee")

    op.drop_table("conversations")
    op.drop_table("inbox_channel_settings")
    op.drop_table("inbox_marks")
    op.drop_table("canned_replies")
