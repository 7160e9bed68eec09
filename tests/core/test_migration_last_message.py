"""Migration 0027 fills friends.last_message_at from the messages each friend sent."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import text

from core.db import Database
from tests.core.test_migrations import _fresh_database_url, _insert_channel_events
from tsunagu import migrate

_FRIEND = (
    "INSERT INTO friends (id, shop_id, channel_id, line_user_id, status, created_at)"
    " VALUES (:id, 1, 1, :user, 'followed', :at)"
)
_MESSAGE = (
    "INSERT INTO conversation_messages (id, shop_id, friend_id, direction, message_type,"
    " payload, occurred_at, created_at)"
    " VALUES (:id, 1, :friend, :direction, 'text', '{}', :at, :at)"
)


def test_the_backfill_keeps_each_friends_latest_inbound_message(tmp_path) -> None:
    database = Database(_fresh_database_url(tmp_path))
    migrate.upgrade(database.engine, "0026")
    with database.engine.begin() as connection:
        _insert_channel_events(connection, [])
        for friend in (1, 2, 3):
            connection.execute(
                text(_FRIEND), {"id": friend, "user": f"U{friend:032x}", "at": _at(1)}
            )
        # Friend 1: two messages in (stored out of order) and a later one out; friend 2: only
        # a message out; friend 3: none.
        for message, friend, direction, day in (
            (1, 1, "in", 9),
            (2, 1, "in", 3),
            (3, 1, "out", 20),
            (4, 2, "out", 5),
        ):
            connection.execute(
                text(_MESSAGE),
                {"id": message, "friend": friend, "direction": direction, "at": _at(day)},
            )

    migrate.upgrade(database.engine)
    with database.engine.connect() as connection:
        filled = connection.execute(
            text(
                "SELECT f.id, f.last_message_at IS NOT NULL,"
                " f.last_message_at = (SELECT occurred_at FROM conversation_messages WHERE id = 1)"
                " FROM friends f ORDER BY f.id"
            )
        ).all()
    database.dispose()

    assert [tuple(row) for row in filled] == [(1, True, True), (2, False, None), (3, False, None)]


def _at(day: int) -> datetime:
    return datetime(2026, 11, day, 9, tzinfo=UTC)
