"""Nudges for stored events: one task per group of committed events, sent off the event loop.

A broker publish is network I/O (about a millisecond of CPU with kombu's Redis transport), so
intake neither sends one per event nor waits for one: the ids of each committed batch join a
queue that one thread drains, sending ``events.process_batch`` for up to :data:`MAX_IDS` ids at
a time. While a publish is under way the next batches gather, so the publishes per second stay
bounded however many events arrive. A nudge is only a hint: the rows are committed before their
ids get here, and the sweeper processes any event whose nudge was lost (broker down, process
stopped with ids still queued).
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from core.db import TaskSender
from core.enqueue import enqueue_now

TASK = "events.process_batch"
# Several workers share a burst; a task of this many events still costs one publish.
MAX_IDS = 100


def nudge(sender: TaskSender | None, event_ids: list[int]) -> None:
    """Send the tasks for ``event_ids`` now, :data:`MAX_IDS` at a time; never raises."""
    for start in range(0, len(event_ids), MAX_IDS):
        enqueue_now(sender, TASK, event_ids=event_ids[start : start + MAX_IDS])


class BackgroundNudges:
    """Gathers stored events' ids and sends their nudges from one thread of its own."""

    def __init__(self, sender: TaskSender) -> None:
        self._sender = sender
        self._pending: list[int] = []
        self._draining = False
        self._lock = threading.Lock()
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tsunagu-nudges")

    def add(self, event_ids: list[int]) -> None:
        """Queue nudges for these committed events; returns at once."""
        with self._lock:
            self._pending.extend(event_ids)
            if self._draining:
                return
            self._draining = True
        self._thread.submit(self._drain)

    def _drain(self) -> None:
        while True:
            with self._lock:
                taken, self._pending = self._pending, []
                if not taken:
                    self._draining = False
                    return
            nudge(self._sender, taken)
