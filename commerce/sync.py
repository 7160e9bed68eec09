"""The sync runner: pull a connection's streams page by page, upsert, checkpoint.

Each page's upserts and its cursor commit in one transaction, so a run killed at any point
resumes from its last checkpoint without losing or duplicating records. A lease on the
connection keeps runs of the same connection from overlapping; a crashed run's lease expires.
"""

from __future__ import annotations

import logging
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import or_, select, text, update
from sqlalchemy.orm import Session

from commerce.bulk import apply_records
from commerce.connections import connector_for, get_connection
from commerce.models import Connection, ConnectionStatus, ConnectorState, SyncRun, SyncRunStatus
from connectors.base import Connector
from connectors.errors import ConnectorError, FatalError, LimitExhausted
from core.clock import utcnow
from core.db import Database, rows_matched
from core.errors import Conflict

log = logging.getLogger(__name__)

LEASE = timedelta(minutes=10)

Progress = Callable[[str, int], None]


class SyncBusy(Conflict):
    """Another run of this connection holds its lease."""


@dataclass(slots=True)
class StreamResult:
    stream: str
    status: str
    pages: int = 0
    counts: Counter[str] = field(default_factory=Counter)
    error: str | None = None


def acquire_lease(session: Session, connection_id: int, owner: str, *, now: datetime) -> bool:
    """Take the connection's sync lease unless another live run holds it (one statement)."""
    result = session.execute(
        update(Connection)
        .where(
            Connection.id == connection_id,
            or_(Connection.sync_lease_until.is_(None), Connection.sync_lease_until < now),
        )
        .values(sync_lease_until=now + LEASE, sync_lease_owner=owner, last_sync_started_at=now)
    )
    return rows_matched(result) == 1


def _renew_lease(session: Session, connection_id: int, owner: str, now: datetime) -> None:
    session.execute(
        update(Connection)
        .where(Connection.id == connection_id, Connection.sync_lease_owner == owner)
        .values(sync_lease_until=now + LEASE)
    )


def _release_lease(session: Session, connection_id: int, owner: str) -> None:
    session.execute(
        update(Connection)
        .where(Connection.id == connection_id, Connection.sync_lease_owner == owner)
        .values(sync_lease_until=None, sync_lease_owner=None)
    )


def run_sync(
    database: Database,
    *,
    connection_id: int,
    streams: list[str] | None = None,
    full: bool = False,
    since: datetime | None = None,
    progress: Progress | None = None,
    clock: Callable[[], datetime] = utcnow,
) -> list[StreamResult]:
    """Sync the connection's streams (all by default); raises SyncBusy when one is running."""
    owner = uuid.uuid4().hex
    started = clock()
    with database.session_scope() as session:
        if not acquire_lease(session, connection_id, owner, now=started):
            connection = get_connection(session, connection_id)
            raise SyncBusy(
                f"a sync of connection {connection.name!r} is already running "
                f"(lease until {connection.sync_lease_until:%Y-%m-%d %H:%M:%S} UTC)"
            )
        connection = get_connection(session, connection_id)
        connector = connector_for(connection)
        names = streams or [s.name for s in connector.streams]
    results: list[StreamResult] = []
    try:
        for name in names:
            result = _run_stream(
                database, connection_id, connector, name, owner, full, since, progress, started
            )
            results.append(result)
            if result.status == SyncRunStatus.PAUSED:
                break
    finally:
        with database.session_scope() as session:
            _release_lease(session, connection_id, owner)
    return results


def _run_stream(
    database: Database,
    connection_id: int,
    connector: Connector,
    stream: str,
    owner: str,
    full: bool,
    since: datetime | None,
    progress: Progress | None,
    started: datetime,
) -> StreamResult:
    with database.session_scope() as session:
        state = session.get(ConnectorState, (connection_id, stream))
        cursor_before = state.cursor if state else None
        cursor = None if full else (since.isoformat() if since else cursor_before)
        mode = "full" if full else ("since" if since else "incremental")
        run = SyncRun(
            connection_id=connection_id,
            stream=stream,
            mode=mode,
            started_at=started,
            cursor_before=cursor_before,
        )
        session.add(run)
        session.flush()
        run_id = run.id
    result = StreamResult(stream=stream, status=SyncRunStatus.RUNNING)
    try:
        for page in connector.pull(stream, cursor, now=started, full=full):
            written_before = _written(result.counts)
            with database.session_scope() as session:
                connection = session.get_one(Connection, connection_id)
                result.counts.update(
                    apply_records(session, connection=connection, records=page.records)
                )
                result.counts["skipped"] += page.skipped
                _checkpoint(session, connection_id, stream, page.cursor)
                result.pages += 1
                run = session.get_one(SyncRun, run_id)
                run.pages, run.counts = result.pages, dict(result.counts)
                run.cursor_after = page.cursor
                _renew_lease(session, connection_id, owner, utcnow())
            if _crossed_a_power_of_ten(written_before, _written(result.counts)):
                refresh_statistics(database)
            if progress is not None:
                progress(stream, len(page.records) + page.skipped)
        result.status = SyncRunStatus.SUCCEEDED
    except LimitExhausted as exc:
        result.status, result.error = SyncRunStatus.PAUSED, str(exc)
        _pause(database, connection_id, exc)
    except ConnectorError as exc:
        result.status, result.error = SyncRunStatus.FAILED, str(exc)
        log.warning("sync of connection %s stream %s failed: %s", connection_id, stream, exc)
        if isinstance(exc, FatalError):
            _set_status(database, connection_id, str(exc))
    finally:
        with database.session_scope() as session:
            run = session.get_one(SyncRun, run_id)
            run.status = (
                result.status if result.status != SyncRunStatus.RUNNING else SyncRunStatus.FAILED
            )
            run.error = result.error
            run.finished_at = utcnow()
            run.counts = dict(result.counts)
            if result.status == SyncRunStatus.SUCCEEDED:
                connection = session.get_one(Connection, connection_id)
                if connection.status == ConnectionStatus.PAUSED:
                    connection.status = ConnectionStatus.ACTIVE
                    connection.status_reason = connection.paused_until = None
    return result


# The tables a sync fills, whose planner statistics a large run outgrows.
SYNCED_TABLES = ("purchases", "purchase_items", "bookings", "external_identities")


def _written(counts: Counter[str]) -> int:
    return counts["created"] + counts["updated"]


def _crossed_a_power_of_ten(before: int, after: int) -> bool:
    """True when a run's written rows pass 1,000, 10,000, 100,000, …"""
    threshold = 1_000
    while threshold <= after:
        if before < threshold:
            return True
        threshold *= 10
    return False


def refresh_statistics(database: Database) -> None:
    """ANALYZE the synced tables. A backfill makes them grow by orders of magnitude within one
    run; with statistics from when they were small (autovacuum off, or not yet run), the look-ups
    by (connection, external id) are planned as scans and each page costs more than the last."""
    with database.engine.begin() as connection:
        for table in SYNCED_TABLES:
            connection.execute(text(f"ANALYZE {table}"))
    log.info("refreshed planner statistics of %s", ", ".join(SYNCED_TABLES))


def _checkpoint(session: Session, connection_id: int, stream: str, cursor: str | None) -> None:
    if cursor is None:
        return
    state = session.get(ConnectorState, (connection_id, stream))
    if state is None:
        session.add(ConnectorState(connection_id=connection_id, stream=stream, cursor=cursor))
    else:
        state.cursor = cursor


def _pause(database: Database, connection_id: int, exc: LimitExhausted) -> None:
    resume_at = exc.resume_at if isinstance(exc.resume_at, datetime) else utcnow() + LEASE
    with database.session_scope() as session:
        connection = session.get_one(Connection, connection_id)
        connection.status = ConnectionStatus.PAUSED
        connection.paused_until = resume_at
        connection.status_reason = f"paused until {resume_at:%Y-%m-%d %H:%M} UTC: {exc}"
    log.warning("connection %s paused until %s: %s", connection_id, resume_at, exc)


def _set_status(database: Database, connection_id: int, reason: str) -> None:
    with database.session_scope() as session:
        session.get_one(Connection, connection_id).status_reason = reason


def last_runs(session: Session, connection_id: int, limit: int = 10) -> list[SyncRun]:
    """The connection's most recent runs, newest first."""
    return list(
        session.scalars(
            select(SyncRun)
            .where(SyncRun.connection_id == connection_id)
            .order_by(SyncRun.id.desc())
            .limit(limit)
        )
    )
