"""Follow-up tasks (the rich menu sync) leave only once the link is durable.

Linking from a webhook event runs inside the inbox's savepoint; releasing a savepoint is not a
commit, so the task must wait for the outer transaction, and rolled-back work sends nothing.
"""

from __future__ import annotations

from typing import Any

import pytest

from core.db import Database
from core.enqueue import enqueue_after_commit

Sent = tuple[Database, list[tuple[str, dict[str, Any]]]]


@pytest.fixture
def sent(database_url: str, db: Database) -> Sent:
    calls: list[tuple[str, dict[str, Any]]] = []
    recording = Database(database_url, task_sender=lambda name, kw: calls.append((name, kw)))
    return recording, calls


def test_a_task_enqueued_in_a_savepoint_is_sent_after_the_outer_commit(sent: Sent) -> None:
    database, calls = sent
    with database.session_scope() as session:
        with session.begin_nested():
            enqueue_after_commit(session, "idlink.sync_rich_menu", friend_id=1)
        assert calls == []
        with pytest.raises(RuntimeError), session.begin_nested():
            enqueue_after_commit(session, "idlink.sync_rich_menu", friend_id=2)
            raise RuntimeError("the work in this savepoint failed")
        enqueue_after_commit(session, "idlink.sync_rich_menu", friend_id=3)
    database.dispose()

    assert calls == [
        ("idlink.sync_rich_menu", {"friend_id": 1}),
        ("idlink.sync_rich_menu", {"friend_id": 3}),
    ]


def test_a_rolled_back_transaction_sends_nothing(sent: Sent) -> None:
    database, calls = sent
    with pytest.raises(RuntimeError), database.session_scope() as session:
        with session.begin_nested():
            enqueue_after_commit(session, "idlink.sync_rich_menu", friend_id=1)
        raise RuntimeError("the request failed")
    database.dispose()

    assert calls == []
