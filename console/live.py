"""Live inbox updates over server-sent events, with any number of hub processes.

Every change to a conversation writes a signal row in its own transaction (``inbox.live``).
One ``SignalWatcher`` per process reads the signals it has not seen a few times a second —
one small indexed query however many consoles are open — and hands each to the open consoles
of that shop (and channels) through ``GET /console/inbox/events``. A change made by another
process reaches them the same way, because the database is what they share.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response, StreamingResponse

from console.auth import CurrentStaff, DbSession, FormStaff
from console.context import render
from core.db import Database
from core.ids import RowId
from inbox import live, presence, queries
from inbox.live import Signal
from staff.permissions import Action

log = logging.getLogger(__name__)

router = APIRouter()

POLL_SECONDS = 0.25
KEEP_ALIVE_SECONDS = 10.0


@dataclass(eq=False)
class Subscriber:
    shop_id: int
    channel_ids: frozenset[int] | None
    loop: asyncio.AbstractEventLoop
    queue: asyncio.Queue[Signal] = field(default_factory=asyncio.Queue)

    def wants(self, signal: Signal) -> bool:
        if signal.shop_id != self.shop_id:
            return False
        return self.channel_ids is None or signal.channel_id in self.channel_ids


class SignalWatcher:
    """Reads new signals while consoles listen, and passes each to those it concerns."""

    def __init__(self, database: Database, *, interval: float = POLL_SECONDS) -> None:
        self._database = database
        self._interval = interval
        self._lock = threading.Lock()
        self._subscribers: set[Subscriber] = set()
        self._thread: threading.Thread | None = None
        # Set when the last console leaves or the hub stops: the thread ends without waiting
        # out its interval (it reads the database; it must not outlive its hub).
        self._wake = threading.Event()
        self._stopped = False

    def subscribe(self, subscriber: Subscriber) -> None:
        with self._lock:
            if self._stopped:
                return
            self._subscribers.add(subscriber)
            self._wake.clear()
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._run, name="tsunagu-inbox-signals", daemon=True
                )
                self._thread.start()

    def unsubscribe(self, subscriber: Subscriber) -> None:
        with self._lock:
            self._subscribers.discard(subscriber)
            if not self._subscribers:
                self._wake.set()

    def stop(self) -> None:
        """Stop reading signals and wait for the thread to end (the hub's shutdown)."""
        with self._lock:
            self._stopped = True
            self._subscribers.clear()
            self._wake.set()
            thread = self._thread
        if thread is not None:
            thread.join()

    def _listening(self) -> list[Subscriber]:
        with self._lock:
            return list(self._subscribers)

    def _go_on(self) -> bool:
        """Whether a console still listens; if none does, the thread is over (decided under
        the lock, so a console subscribing meanwhile starts a new one)."""
        with self._lock:
            if self._subscribers:
                return True
            self._thread = None
            return False

    def _run(self) -> None:
        with self._database.session_scope() as session:
            last = live.newest_id(session)
            # What is already there is not news: only signals written from now on are passed.
            seen = {signal.id for signal in live.signals_after(session, last)}
        while self._go_on():
            if self._wake.wait(self._interval):
                continue
            try:
                with self._database.session_scope() as session:
                    found = live.signals_after(session, last)
            except Exception:
                log.warning("could not read the inbox signals; trying again", exc_info=True)
                continue
            for signal in found:
                if signal.id in seen:
                    continue
                seen.add(signal.id)
                last = max(last, signal.id)
                for subscriber in self._listening():
                    if subscriber.wants(signal):
                        subscriber.loop.call_soon_threadsafe(subscriber.queue.put_nowait, signal)
            seen = {i for i in seen if i > last - 2 * live.LOOK_BACK}


def watcher_of(request: Request) -> SignalWatcher:
    return request.app.state.inbox_watcher


@router.get("/inbox/events")
def inbox_events(request: Request, staff: CurrentStaff, session: DbSession) -> StreamingResponse:
    """A stream of ``conversation`` events (its id and what changed) for the staff member's
    shop and channels, as they happen in any hub process."""
    staff.require(Action.READ_FRIENDS)
    channel_ids = queries.channel_ids_in_scope(session, staff.shop.id, staff.channel_scope)
    shop_id = staff.shop.id
    watcher = watcher_of(request)

    async def stream() -> AsyncIterator[str]:
        subscriber = Subscriber(
            shop_id=shop_id, channel_ids=channel_ids, loop=asyncio.get_running_loop()
        )
        watcher.subscribe(subscriber)
        try:
            yield "retry: 2000\n\n"
            while not await request.is_disconnected():
                try:
                    signal = await asyncio.wait_for(
                        subscriber.queue.get(), timeout=KEEP_ALIVE_SECONDS
                    )
                except TimeoutError:
                    yield ": still here\n\n"
                    continue
                data = {"conversation_id": signal.conversation_id, "kind": signal.kind}
                yield f"event: conversation\ndata: {json.dumps(data)}\n\n"
        finally:
            watcher.unsubscribe(subscriber)

    return StreamingResponse(
        stream(), media_type="text/event-stream", headers={"x-accel-buffering": "no"}
    )


@router.post("/inbox/conversations/{conversation_id}/presence")
def renew_presence(
    request: Request,
    conversation_id: RowId,
    staff: FormStaff,
    session: DbSession,
    typing: Annotated[bool, Form()] = False,
) -> Response:
    """The page is open (and its author typing, if said): renew it, and show who else is
    there."""
    staff.require(Action.READ_FRIENDS)
    conversation = queries.find_conversation(
        session, staff.shop.id, conversation_id, channel_scope=staff.channel_scope
    )
    presence.beat(session, conversation=conversation, staff_user_id=staff.user.id, typing=typing)
    viewers = presence.others(session, conversation, staff_user_id=staff.user.id)
    return render(request, "inbox/_presence.html", {"viewers": viewers})


@router.post("/inbox/conversations/{conversation_id}/presence/leave", status_code=204)
def leave(conversation_id: RowId, staff: FormStaff, session: DbSession) -> Response:
    """The page closed (the browser says so as it goes)."""
    staff.require(Action.READ_FRIENDS)
    conversation = queries.find_conversation(
        session, staff.shop.id, conversation_id, channel_scope=staff.channel_scope
    )
    presence.leave(session, conversation=conversation, staff_user_id=staff.user.id)
    return Response(status_code=204)
