"""Waking a waiting thread when a transaction that concerns it commits, in any hub process.

A writer calls ``notify(session, channel)`` inside its transaction; a reader sleeps in
``Wakeup.wait``. On PostgreSQL the writer issues ``NOTIFY`` (delivered only on commit, so a
wake exists exactly when the change committed) and each ``Wakeup`` holds one connection that
``LISTEN``s, in whichever process it runs. On SQLite (embedded, one process) the commit wakes
the process's own waiters. A wake carries nothing: the reader reads the database, which stays
the truth, and still reads on a timeout, so a lost connection loses no change.
"""

from __future__ import annotations

import contextlib
import logging
import select
import socket
import threading
from typing import Any

import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo
from sqlalchemy import event, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, SessionTransaction

log = logging.getLogger(__name__)

# Each session's channels to wake once its transaction commits (SQLite).
_PENDING = "wakeup_pending"
# A half-open connection (the network gone, no reset) is found out within about half a minute.
KEEPALIVES = {
    "keepalives": 1,
    "keepalives_idle": 10,
    "keepalives_interval": 5,
    "keepalives_count": 3,
}
CONNECT_TIMEOUT_SECONDS = 5

_local_lock = threading.Lock()
_local: dict[tuple[str, str], set[Wakeup]] = {}


def notify(session: Session, channel: str) -> None:
    """Wake the waiters on ``channel`` when (and only if) ``session``'s transaction commits."""
    bind = session.get_bind()
    if bind.dialect.name == "postgresql":
        session.execute(text("SELECT pg_notify(:channel, '')"), {"channel": channel})
        return
    # In the transaction (begun if need be), whose end decides.
    session.connection()
    pending: set[tuple[str, str]] = session.info.setdefault(_PENDING, set())
    pending.add((_database_key(bind.engine.url), channel))
    if not event.contains(session, "after_commit", _wake_pending):
        event.listen(session, "after_commit", _wake_pending)
        event.listen(session, "after_soft_rollback", _forget_pending)


def _wake_pending(session: Session) -> None:
    for key in session.info.pop(_PENDING, ()):
        with _local_lock:
            waiters = list(_local.get(key, ()))
        for waiter in waiters:
            waiter.wake()


def _forget_pending(session: Session, previous: SessionTransaction) -> None:
    # The transaction's own end; a savepoint rolled back inside it leaves what it asked.
    if previous.parent is None:
        session.info.pop(_PENDING, None)


def _database_key(url: Any) -> str:
    return make_url(url).render_as_string(hide_password=False)


class Wakeup:
    """What one thread sleeps on until ``channel`` is notified, ``wake()`` is called, or a
    timeout passes. On PostgreSQL it holds one ``LISTEN`` connection, opened by ``start()``
    and opened again, with a warning, when it drops."""

    def __init__(self, database_url: str, channel: str, *, application_name: str) -> None:
        url = make_url(database_url)
        self._key = (_database_key(url), channel)
        self._channel = channel
        self._listens = url.get_backend_name() == "postgresql"
        self._conninfo = make_conninfo(
            url.set(drivername="postgresql").render_as_string(hide_password=False),
            application_name=application_name,
            connect_timeout=CONNECT_TIMEOUT_SECONDS,
            **KEEPALIVES,
        )
        self._connection: psycopg.Connection[Any] | None = None
        self._lost = False
        self._reader, self._writer = socket.socketpair()
        self._reader.setblocking(False)
        self._writer.setblocking(False)

    def start(self) -> Wakeup:
        """Begin listening: every commit from now on wakes ``wait``."""
        with _local_lock:
            _local.setdefault(self._key, set()).add(self)
        if self._listens:
            self._listen()
        return self

    def wake(self) -> None:
        """End the current or next ``wait`` at once (safe from any thread)."""
        # A full buffer means a wake is already pending; a closed socket, nobody waits.
        with contextlib.suppress(OSError):
            self._writer.send(b"\0")

    def wait(self, timeout: float) -> None:
        """Sleep until a wake or ``timeout`` seconds. A listener connection that dropped is
        opened again first, and then the caller is not kept waiting: what was committed while
        it was gone has woken nobody."""
        if self._listens and self._connection is None and self._listen():
            return
        watched: list[Any] = [self._reader]
        if self._connection is not None:
            watched.append(self._connection.fileno())
        select.select(watched, [], [], timeout)
        self._drain_wakes()
        self._drain_notifications()

    def close(self) -> None:
        """Stop listening; close the connection and the wake socket."""
        with _local_lock:
            waiters = _local.get(self._key)
            if waiters is not None:
                waiters.discard(self)
                if not waiters:
                    del _local[self._key]
        if self._connection is not None:
            self._connection.close()
            self._connection = None
        self._reader.close()
        self._writer.close()

    @property
    def listening(self) -> bool:
        """Whether a ``LISTEN`` connection is open (always false on SQLite)."""
        return self._connection is not None

    def _listen(self) -> bool:
        """Open the connection and ``LISTEN``; whether it worked."""
        try:
            connection = psycopg.connect(self._conninfo, autocommit=True)
            try:
                connection.execute(sql.SQL("LISTEN {}").format(sql.Identifier(self._channel)))
            except BaseException:
                connection.close()
                raise
        except psycopg.Error as exc:
            log.warning("could not listen to %s (%s); trying again", self._channel, exc)
            self._lost = True
            return False
        self._connection = connection
        if self._lost:
            log.info("listening to %s again", self._channel)
            self._lost = False
        return True

    def _drain_wakes(self) -> None:
        with contextlib.suppress(OSError):
            while self._reader.recv(4096):
                pass

    def _drain_notifications(self) -> None:
        connection = self._connection
        if connection is None:
            return
        try:
            for _ in connection.notifies(timeout=0):
                pass
        except psycopg.Error as exc:
            log.warning(
                "the listener connection of %s dropped (%s); reconnecting", self._channel, exc
            )
            connection.close()
            self._connection = None
            self._lost = True
