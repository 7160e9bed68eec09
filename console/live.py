"""Live inbox updates over server-sent events, with any number of hub processes.

Every change to a conversation writes a signal row in its own transaction (``inbox.live``),
and its commit wakes every hub process (``core.wakeup``: PostgreSQL's ``NOTIFY``, in-process
on SQLite). One ``SignalWatcher`` per process sleeps on that wake-up while consoles listen —
one ``LISTEN`` connection, however many consoles are open — then reads the signals it has not
seen (one small indexed query) and hands each to the open consoles of that shop (and
channels) through ``GET /console/inbox/events``. The signals stay the truth: the watcher also
reads every ``SAFETY_POLL_SECONDS`` without a wake, so a lost connection loses no change.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response, StreamingResponse

from console.auth import CurrentStaff, DbSession, FormStaff
from console.context import render
from core.db import Database
from core.ids import RowId
from core.wakeup import Wakeup
from inbox import live, presence, queries
from inbox.live import Signal
from staff.permissions import Action

log = logging.getLogger(__name__)

router = APIRouter()

SAFETY_POLL_SECONDS = 2.0
KEEP_ALIVE_SECONDS = 10.0
# How the watcher's connection shows in pg_stat_activity.
LISTENER_NAME = "tsunagu inbox listener"


@dataclass(eq=False)
class Subscriber:
    shop_id: int
    channel_ids: frozenset[int] | None
    loop: asyncio.AbstractEventLoop
    # ``None`` ends the stream (the hub stops).
    queue: asyncio.Queue[Signal | None] = field(default_factory=asyncio.Queue)
    # Set once the watcher knows where it starts: every signal committed after is passed.
    ready: asyncio.Event = field(default_factory=asyncio.Event)

    def wants(self, signal: Signal) -> bool:
        if signal.shop_id != self.shop_id:
            return False
        return self.channel_ids is None or signal.channel_id in self.channel_ids

    def put(self, item: Signal | None) -> None:
        self._call(self.queue.put_nowait, item)

    def set_ready(self) -> None:
        self._call(self.ready.set)

    def end(self) -> None:
        """End the stream, whether or not it had begun."""
        self.set_ready()
        self.put(None)

    def _call(self, function: Callable[..., object], *args: object) -> None:
        # A closed loop: the stream is gone, nobody reads it any more.
        with contextlib.suppress(RuntimeError):
            self.loop.call_soon_threadsafe(function, *args)


class SignalWatcher:
    """Reads new signals when woken while consoles listen, and passes each to those it
    concerns. Its thread (and its listener connection) runs only while a console listens."""

    def __init__(
        self, database: Database, *, safety_poll_seconds: float = SAFETY_POLL_SECONDS
    ) -> None:
        self._database = database
        self._safety_poll = safety_poll_seconds
        self._lock = threading.Lock()
        self._subscribers: set[Subscriber] = set()
        self._thread: threading.Thread | None = None
        self._wakeup: Wakeup | None = None
        self._ready = False
        self._closed = False

    def subscribe(self, subscriber: Subscriber) -> None:
        with self._lock:
            if self._closed:
                subscriber.end()
                return
            self._subscribers.add(subscriber)
            if self._thread is None or not self._thread.is_alive():
                self._ready = False
                self._wakeup = Wakeup(
                    self._database.url, live.CHANNEL, application_name=LISTENER_NAME
                )
                self._thread = threading.Thread(
                    target=self._run,
                    args=(self._wakeup,),
                    name="tsunagu-inbox-signals",
                    daemon=True,
                )
                self._thread.start()
            elif self._ready:
                subscriber.set_ready()

    def unsubscribe(self, subscriber: Subscriber) -> None:
        with self._lock:
            self._subscribers.discard(subscriber)
            if not self._subscribers and self._wakeup is not None:
                self._wakeup.wake()

    def close(self, *, wait: bool = True) -> None:
        """Stop the watcher and its listener connection, and end the open streams; ``wait``
        for its thread to end."""
        with self._lock:
            self._closed = True
            thread = self._thread
            for subscriber in self._subscribers:
                subscriber.end()
            self._subscribers.clear()
            if self._wakeup is not None:
                self._wakeup.wake()
        if wait and thread is not None:
            thread.join(timeout=10)

    def _listening(self) -> list[Subscriber]:
        with self._lock:
            return list(self._subscribers)

    def _keeps_going(self) -> bool:
        """Whether a console still listens; if none does, the thread ends (decided under the
        lock, so a console subscribing now starts a new one)."""
        with self._lock:
            if self._subscribers and not self._closed:
                return True
            self._thread = None
            self._wakeup = None
            return False

    def _run(self, wakeup: Wakeup) -> None:
        try:
            # Listen first, then look: whatever commits after the look wakes the watcher.
            wakeup.start()
            start = self._start()
            while start is None and self._keeps_going():
                wakeup.wait(self._safety_poll)
                start = self._start()
            if start is None:
                return
            self._watch(wakeup, *start)
        except Exception:
            log.exception("the inbox signal watcher stopped")
        finally:
            wakeup.close()
            with self._lock:
                if self._thread is threading.current_thread():
                    self._thread = None
                    self._wakeup = None

    def _start(self) -> tuple[int, set[int]] | None:
        """Where to begin (what is already there is not news), and tell the consoles so."""
        try:
            with self._database.session_scope() as session:
                last = live.newest_id(session)
                seen = {signal.id for signal in live.signals_after(session, last)}
        except Exception:
            log.warning("could not read the inbox signals; trying again", exc_info=True)
            return None
        with self._lock:
            self._ready = True
            for subscriber in self._subscribers:
                subscriber.set_ready()
        return last, seen

    def _watch(self, wakeup: Wakeup, last: int, seen: set[int]) -> None:
        while True:
            wakeup.wait(self._safety_poll)
            if not self._keeps_going():
                return
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
                        subscriber.put(signal)
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
            # The first line says the stream listens: every change committed after it comes.
            while not subscriber.ready.is_set():
                try:
                    await asyncio.wait_for(subscriber.ready.wait(), timeout=KEEP_ALIVE_SECONDS)
                except TimeoutError:
                    yield ": still here\n\n"
            yield "retry: 2000\n\n"
            while not await request.is_disconnected():
                try:
                    signal = await asyncio.wait_for(
                        subscriber.queue.get(), timeout=KEEP_ALIVE_SECONDS
                    )
                except TimeoutError:
                    yield ": still here\n\n"
                    continue
                if signal is None:
                    return
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
