"""A wake-up exists exactly when the transaction that asked for it committed: a reader sleeping
on the channel (through its own connection on PostgreSQL, in-process on SQLite) wakes then, and
not for a transaction rolled back."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from core import wakeup
from core.db import Database
from core.wakeup import Wakeup

CHANNEL = "wakeup_test"
# Long enough that a wait ending before it was a wake, not the timeout.
SLEEP = 10.0


@pytest.fixture
def writer(database_url: str) -> Iterator[Database]:
    database = Database(database_url)
    yield database
    database.dispose()


@pytest.fixture
def reader(database_url: str) -> Iterator[Wakeup]:
    # Its own database object and connection, as in another hub process.
    sleeper = Wakeup(database_url, CHANNEL, application_name="tsunagu wakeup test").start()
    yield sleeper
    sleeper.close()


def _slept(reader: Wakeup, timeout: float) -> float:
    started = time.monotonic()
    reader.wait(timeout)
    return time.monotonic() - started


def test_a_committed_transaction_wakes_the_reader(writer: Database, reader: Wakeup) -> None:
    with writer.session_scope() as session:
        wakeup.notify(session, CHANNEL)
        wakeup.notify(session, CHANNEL)

    first = _slept(reader, SLEEP)
    # Two notices in one transaction are one wake-up.
    second = _slept(reader, 0.5)

    assert first < SLEEP / 2
    assert second >= 0.5


def test_a_rolled_back_transaction_wakes_nobody(writer: Database, reader: Wakeup) -> None:
    session = writer.session()
    try:
        wakeup.notify(session, CHANNEL)
        session.rollback()
        # The next transaction of the same session commits, asking for nothing.
        session.commit()
    finally:
        session.close()

    assert _slept(reader, 0.5) >= 0.5


def test_the_reader_listens_on_postgresql_only(database_url: str, reader: Wakeup) -> None:
    assert reader.listening == database_url.startswith("postgresql")
