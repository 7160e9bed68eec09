"""The webhook hot path on PostgreSQL: the events of concurrent webhooks stored together, one
self-committing INSERT a batch, on the event loop (``core.inbox`` stores them one request at a
time everywhere else)."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from core.clock import utcnow
from core.db import AsyncDriverPool
from core.inbox import EventStatus, IncomingEvent, scope_of, storable_key

log = logging.getLogger(__name__)


class InboxWriter:
    """Stores the events of concurrent webhooks together: one self-committing INSERT a batch.

    The webhook hot path on PostgreSQL, run on the event loop. Each caller's rows join the next
    batch, and the caller resumes once that batch's statement has returned, that is once its
    rows are committed: a commit and a round trip are shared by every request that arrived
    while the previous batch was being written. A webhook's events are stored or refused
    together; a batch that fails is written again one webhook at a time, so a bad one refuses
    only itself. ``on_stored`` is called on the loop with the new rows' ids of each committed
    statement, before its callers resume: one nudge per batch instead of one per event.
    """

    def __init__(
        self,
        connections: AsyncDriverPool,
        *,
        max_rows: int = 1000,
        on_stored: Callable[[list[int]], None] | None = None,
    ) -> None:
        self._connections = connections
        self._max_rows = max_rows
        self._on_stored = on_stored
        self._waiting: list[tuple[list[dict[str, Any]], asyncio.Future[list[int]]]] = []
        self._flusher: asyncio.Task[None] | None = None

    async def store(
        self,
        *,
        source: str,
        shop_id: int,
        channel_id: int | None = None,
        connection_id: int | None = None,
        events: Sequence[IncomingEvent],
        now: datetime | None = None,
    ) -> list[int]:
        """:func:`store_events`, committed when it returns; ids of the new rows only."""
        if not events:
            return []
        received_at = (now or utcnow()).isoformat()
        scope_id = scope_of(channel_id=channel_id, connection_id=connection_id)
        # Ready for the batch's JSON document: timestamps as text, made once per webhook (a
        # datetime left to the encoder's fallback costs a Python call each).
        rows = [
            {
                "shop_id": shop_id,
                "channel_id": channel_id,
                "connection_id": connection_id,
                "source": source,
                "scope_id": scope_id,
                "dedup_key": storable_key(e.dedup_key),
                "event_type": e.event_type,
                "payload": e.payload,
                "occurred_at": None if e.occurred_at is None else e.occurred_at.isoformat(),
                "received_at": received_at,
            }
            for e in events
        ]
        stored: asyncio.Future[list[int]] = asyncio.get_running_loop().create_future()
        self._waiting.append((rows, stored))
        if self._flusher is None:
            self._flusher = asyncio.create_task(self._flush())
        # A caller that goes away (client disconnect) must not cancel the others' batch.
        return await asyncio.shield(stored)

    async def _flush(self) -> None:
        batch: list[tuple[list[dict[str, Any]], asyncio.Future[list[int]]]] = []
        try:
            while self._waiting:
                batch = self._next_batch()
                await self._write(batch)
        except BaseException:
            # Cancelled (the loop is closing): nobody may wait forever for a batch.
            for _, stored in [*batch, *self._waiting]:
                stored.cancel()
            self._waiting = []
            raise
        finally:
            self._flusher = None

    async def _write(
        self, batch: list[tuple[list[dict[str, Any]], asyncio.Future[list[int]]]]
    ) -> None:
        try:
            new = await self._insert([row for rows, _ in batch for row in rows])
        except Exception as exc:
            if len(batch) == 1:
                _settle(batch[0][1], exception=exc)
                return
            # One webhook's bad row must not refuse the others: each is written on its own.
            for single in batch:
                await self._write([single])
            return
        if new and self._on_stored is not None:
            try:
                self._on_stored(list(new.values()))
            except Exception:
                # The rows are committed: a lost nudge is the sweeper's, never the callers'.
                log.warning("could not nudge a stored batch; the sweeper will", exc_info=True)
        for rows, stored in batch:
            _settle(stored, result=[new.pop(key) for key in _keys(rows) if key in new])

    def _next_batch(self) -> list[tuple[list[dict[str, Any]], asyncio.Future[list[int]]]]:
        taken, rows = 0, 0
        for pending, _ in self._waiting:
            if taken and rows + len(pending) > self._max_rows:
                break
            taken, rows = taken + 1, rows + len(pending)
        batch, self._waiting = self._waiting[:taken], self._waiting[taken:]
        return batch

    async def _insert(self, rows: list[dict[str, Any]]) -> dict[tuple[str, int, str], int]:
        # The batch travels as one JSON document, dumped by the C encoder in a single call:
        # adapting one array per column cost psycopg about 50 µs of Python per row.
        document = json.dumps(rows)
        parameters = {"rows": document, "status": EventStatus.PENDING.value}
        async with self._connections.connection() as connection:
            cursor = await connection.execute(_INSERT_BATCH_SQL, parameters)
            return {
                (source, scope_id, key): id_
                for id_, source, scope_id, key in await cursor.fetchall()
            }


def _keys(rows: list[dict[str, Any]]) -> list[tuple[str, int, str]]:
    return [(row["source"], row["scope_id"], row["dedup_key"]) for row in rows]


def _settle(
    future: asyncio.Future[list[int]],
    *,
    result: list[int] | None = None,
    exception: Exception | None = None,
) -> None:
    if future.done():
        return
    if exception is not None:
        future.set_exception(exception)
    else:
        future.set_result(result or [])


# One statement for any batch size (so psycopg prepares it once): the rows travel as one JSON
# array, read back with the column types of the migrations. A new row is pending, never tried,
# and due at once.
_INSERT_BATCH_SQL = """
INSERT INTO inbound_events (
    shop_id, channel_id, connection_id, source, scope_id, dedup_key, event_type,
    payload, occurred_at, received_at, status, attempts, next_attempt_at
)
SELECT
    shop_id, channel_id, connection_id, source, scope_id, dedup_key, event_type,
    payload, occurred_at, received_at, %(status)s::varchar, 0, received_at
FROM json_to_recordset(%(rows)s::json) AS batch(
    shop_id integer, channel_id integer, connection_id integer,
    source varchar, scope_id integer, dedup_key varchar, event_type varchar,
    payload json, occurred_at timestamptz, received_at timestamptz
)
ON CONFLICT (source, scope_id, dedup_key) DO NOTHING
RETURNING id, source, scope_id, dedup_key
"""
