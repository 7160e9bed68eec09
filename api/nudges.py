"""Nudges for stored events: one task per group of committed events, sent off the event loop.

A broker publish is network I/O (about a millisecond of CPU with kombu's Redis transport, and
a GIL hand-off each way between the publishing thread and the event loop), so intake neither
sends one per event nor waits for one: the ids of each committed batch join a list that one
thread of its own drains. Woken by the first ids, the thread waits :data:`LINGER_SECONDS` for
the batches committed meanwhile, then sends ``events.process_batch`` for up to :data:`MAX_IDS`
ids at a time; while it publishes, the next batches gather. The publishes per second stay
bounded however many events arrive, and an event waits at most a few milliseconds more for its
worker. The app's shutdown ends the thread and sends the ids still gathered, as a clean exit
does. A nudge is only a hint: the rows are
committed before their ids get here, and the sweeper processes any event whose nudge was lost
(broker down, process killed with ids still gathered).
"""

from __future__ import annotations

import atexit
import threading

from core.db import TaskSender
from core.enqueue import enqueue_now

TASK = "events.process_batch"
# Several workers share a burst; a task of this many events still costs one publish.
MAX_IDS = 100
# Long enough for a few batches to join one publish at a high rate, short next to the time a
# worker takes to process an event.
LINGER_SECONDS = 0.01


def nudge(sender: TaskSender | None, event_ids: list[int]) -> None:
    """Send the tasks for ``event_ids`` now, :data:`MAX_IDS` at a time; never raises."""
    for start in range(0, len(event_ids), MAX_IDS):
        enqueue_now(sender, TASK, event_ids=event_ids[start : start + MAX_IDS])


class BackgroundNudges:
    """Gathers stored events' ids and sends their nudges from one thread of its own."""

    def __init__(self, sender: TaskSender, *, linger_seconds: float = LINGER_SECONDS) -> None:
        self._sender = sender
        self._linger_seconds = linger_seconds
        self._pending: list[int] = []
        self._idle = False
        self._closed = False
        self._wake = threading.Condition()
        self._thread: threading.Thread | None = None

    def add(self, event_ids: list[int]) -> None:
        """Queue nudges for these committed events; returns at once."""
        with self._wake:
            self._pending.extend(event_ids)
            closed = self._closed
            if not closed and self._idle:
                self._wake.notify()
            elif not closed and self._thread is None:
                # A daemon never holds the process up; a clean exit sends what is gathered.
                self._thread = threading.Thread(
                    target=self._run, name="tsunagu-nudges", daemon=True
                )
                self._thread.start()
                atexit.register(self.flush)
        if closed:
            # The app is shutting down and the thread is gone: nobody else would send them.
            self.flush()

    def flush(self) -> None:
        """Send the nudges of every id gathered so far, now, on the caller's thread."""
        with self._wake:
            taken, self._pending = self._pending, []
        nudge(self._sender, taken)

    def close(self) -> None:
        """End the thread and send what is still gathered (the app's shutdown)."""
        with self._wake:
            self._closed = True
            self._wake.notify()
            thread = self._thread
        if thread is not None:
            thread.join()
            atexit.unregister(self.flush)
        self.flush()

    def _run(self) -> None:
        while True:
            with self._wake:
                while not self._pending and not self._closed:
                    self._idle = True
                    self._wake.wait()
                self._idle = False
                if self._closed:
                    return
                # The linger; a close ends it at once.
                self._wake.wait_for(lambda: self._closed, timeout=self._linger_seconds)
            self.flush()
