"""The in-process worker and scheduler of the embedded runtime (``tsunagu serve`` on SQLite).

It runs the very Celery tasks a production worker runs, on a small thread pool, and runs the
periodic ones on their intervals. Sending never blocks the caller.
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from celery import Celery

from config import Settings
from jobs.celery_app import PERIODIC, interval_of

log = logging.getLogger(__name__)


class EmbeddedWorker:
    """A thread pool executing tasks by name, and a scheduler thread for the periodic ones."""

    def __init__(self, celery: Celery, settings: Settings, *, threads: int = 4) -> None:
        self._celery = celery
        self._settings = settings
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="tsunagu-worker")
        self._stop = threading.Event()
        self._scheduler: threading.Thread | None = None

    def send(self, task_name: str, kwargs: dict[str, Any]) -> None:
        """Run ``task_name(**kwargs)`` soon on the pool (the after-commit task sender)."""
        if self._stop.is_set():
            log.info("worker stopping; %s left for the sweeper", task_name)
            return
        self._pool.submit(self._run, task_name, kwargs)

    def _run(self, task_name: str, kwargs: dict[str, Any]) -> None:
        result = self._celery.tasks[task_name].apply(kwargs=kwargs)
        if result.failed():
            log.error("task %s failed: %s", task_name, result.result, exc_info=result.result)

    def start(self) -> None:
        """Start the periodic scheduler (the sweeper runs at once, then on its interval)."""
        self._scheduler = threading.Thread(
            target=self._schedule, name="tsunagu-scheduler", daemon=True
        )
        self._scheduler.start()

    def _schedule(self) -> None:
        intervals = {name: interval_of(name, self._settings) for name in PERIODIC}
        next_run = dict.fromkeys(intervals, time.monotonic())
        while not self._stop.is_set():
            now = time.monotonic()
            for name, interval in intervals.items():
                if now >= next_run[name]:
                    self.send(name, {})
                    next_run[name] = now + interval
            self._stop.wait(max(0.05, min(next_run.values()) - time.monotonic()))

    def check(self) -> None:
        """Raise unless the worker is running (for ``/readyz``)."""
        if self._stop.is_set() or self._scheduler is None or not self._scheduler.is_alive():
            raise RuntimeError("embedded worker is not running")

    def stop(self, *, wait: bool = True) -> None:
        """Stop scheduling and finish the tasks already started."""
        self._stop.set()
        if self._scheduler is not None:
            self._scheduler.join(timeout=5)
        self._pool.shutdown(wait=wait, cancel_futures=True)
