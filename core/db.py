"""The database: declarative base, engine set-up for SQLite and PostgreSQL, session scope."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from datetime import datetime
from typing import Any, ClassVar

import psycopg
from sqlalchemy import (
    CursorResult,
    DateTime,
    Engine,
    MetaData,
    Result,
    Table,
    create_engine,
    event,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.types import TypeDecorator

from core.clock import as_utc
from core.private_files import prepare_sqlite_file

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware datetime that always comes back in UTC, on SQLite too."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored: pass an aware UTC datetime")
        return as_utc(value)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        return None if value is None else as_utc(value)


class Base(DeclarativeBase):
    # Every model maps one Table (no mapping of joins or selects): typed as such, so that Core
    # statements such as ``insert(Model.__table__)`` check.
    __table__: ClassVar[Table]
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UTCDateTime()}


TaskSender = Callable[[str, dict[str, Any]], None]


def rows_matched(result: Result[*tuple[Any, ...]]) -> int:
    """How many rows an UPDATE or DELETE run through ``Session.execute`` matched.

    The session types its answer as a plain ``Result``; for these statements it is a
    ``CursorResult``, the one that counts rows.
    """
    if not isinstance(result, CursorResult):
        raise TypeError(f"{type(result).__name__} does not count rows: not an UPDATE or DELETE")
    return result.rowcount or 0


def insert(session: Session, table: Any) -> Any:
    """The backend's own INSERT, which knows ``ON CONFLICT`` (PostgreSQL and SQLite alike)."""
    is_postgresql = session.get_bind().dialect.name == "postgresql"
    return (postgresql.insert if is_postgresql else sqlite.insert)(table)


def make_engine(url: str, **overrides: Any) -> Engine:
    """An engine tuned for the backend: WAL and a busy timeout on SQLite, a sized pool elsewhere."""
    if url.startswith("sqlite"):
        prepare_sqlite_file(url)
        engine = create_engine(
            url, connect_args={"check_same_thread": False, "timeout": 30}, **overrides
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        # pysqlite's own transaction handling defers BEGIN; emit it ourselves so a transaction
        # that reads and then writes holds the lock from its start (no lost updates).
        event.listen(engine, "begin", lambda conn: conn.exec_driver_sql("BEGIN IMMEDIATE"))
        return engine
    options: dict[str, Any] = {"pool_size": 20, "max_overflow": 20, "pool_pre_ping": True}
    options.update(overrides)
    return create_engine(url, **options)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA busy_timeout=30000")
    _switch_to_wal(cursor)
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _switch_to_wal(cursor: Any) -> None:
    """Put the file in WAL mode. Processes opening a new file together (hubs starting at once)
    can find it locked: SQLite answers that switch "locked" at once, without waiting for the
    busy timeout, so it is tried again for up to 30 s."""
    deadline = time.monotonic() + 30
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


class Database:
    """An engine, its session factory, and where after-commit tasks are sent."""

    def __init__(self, url: str, *, task_sender: TaskSender | None = None, **engine_options: Any):
        self.url = url
        self.engine = make_engine(url, **engine_options)
        self.task_sender = task_sender
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    def session(self) -> Session:
        """A new session; after-commit tasks go to this database's task sender."""
        session = self.sessions()
        session.info["task_sender"] = self.task_sender
        return session

    @contextmanager
    def session_scope(self) -> Iterator[Session]:
        """One unit of work: commit on success, roll back on error, always close."""
        session = self.session()
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    def dispose(self) -> None:
        self.engine.dispose()


class AsyncDriverPool:
    """Up to ``size`` psycopg async connections in autocommit, for statements run on the event
    loop without a thread hop (webhook intake on PostgreSQL).

    Connections open on first use, on the running loop (they belong to the loop that opened
    them). One that was closed, or was in use when an error or a cancellation came, is dropped
    and replaced on a later checkout.
    """

    def __init__(self, url: str, size: int) -> None:
        self._conninfo = make_url(url).set(drivername="postgresql").render_as_string(False)
        self._size = size
        self._opened = 0
        self._idle: asyncio.Queue[psycopg.AsyncConnection[Any]] = asyncio.Queue()

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
        """Borrow a connection; it goes back to the pool only if the block ended cleanly."""
        connection = await self._checkout()
        try:
            yield connection
        except BaseException:
            self._opened -= 1
            await connection.close()
            raise
        self._idle.put_nowait(connection)

    async def _checkout(self) -> psycopg.AsyncConnection[Any]:
        while not self._idle.empty():
            connection = self._idle.get_nowait()
            if not connection.closed:
                return connection
            self._opened -= 1
        if self._opened >= self._size:
            return await self._idle.get()
        self._opened += 1
        try:
            return await psycopg.AsyncConnection.connect(self._conninfo, autocommit=True)
        except BaseException:
            self._opened -= 1
            raise
