"""The in-process worker and scheduler of the embedded runtime (``tsunagu serve`` on SQLite).

It runs the very Celery tasks a production worker runs, on a small thread pool, and runs the
periodic ones on their intervals. Sending never blocks the caller. A task that fails with one
of its ``autoretry_for`` errors is tried again after the countdown a Celery worker would wait
(its ``retry_backoff``, capped and jittered the same way), not at once: Celery's eager
``apply`` would spend every retry within milliseconds while, say, LINE is down.
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from celery import Celery, Task
from celery.utils.time import get_exponential_backoff_interval

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
        self._retries: set[threading.Timer] = set()
        self._retries_lock = threading.Lock()

    def send(self, task_name: str, kwargs: dict[str, Any], *, retries: int = 0) -> None:
        """Run ``task_name(**kwargs)`` soon on the pool (the after-commit task sender)."""
        if self._stop.is_set():
            log.info("worker stopping; %s left for the sweeper", task_name)
            return
        self._pool.submit(self._run, task_name, kwargs, retries)

    def _run(self, task_name: str, kwargs: dict[str, Any], retries: int) -> None:
        task: Task = self._celery.tasks[task_name]
        try:
            # Called directly, a task raises what failed instead of retrying at once.
            task(**kwargs)
        except tuple(getattr(task, "autoretry_for", ())) as exc:
            if task.max_retries is not None and retries >= task.max_retries:
                log.error("task %s failed after %d retries: %s", task_name, retries, exc)
                return
            countdown = _countdown(task, retries)
            log.warning("task %s failed (%s); retrying in %.1f s", task_name, exc, countdown)
            self._retry_later(countdown, task_name, kwargs, retries + 1)
        except Exception:
            log.exception("task %s failed", task_name)

    def _retry_later(
        self, countdown: float, task_name: str, kwargs: dict[str, Any], retries: int
    ) -> None:
        def due() -> None:
            with self._retries_lock:
                self._retries.discard(timer)
            self.send(task_name, kwargs, retries=retries)

        timer = threading.Timer(countdown, due)
        timer.daemon = True
        with self._retries_lock:
            if self._stop.is_set():
                return
            self._retries.add(timer)
        timer.start()

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
        with self._retries_lock:
            for timer in self._retries:
                timer.cancel()  # the sweeper finds their work again after a restart
            self._retries.clear()
        if self._scheduler is not None:
            self._scheduler.join(timeout=5)
        self._pool.shutdown(wait=wait, cancel_futures=True)


def _countdown(task: Task, retries: int) -> float:
    """How long a Celery worker would wait before this retry of ``task``."""
    backoff = getattr(task, "retry_backoff", False)
    if not backoff:
        return float(task.default_retry_delay or 0)
    return float(
        get_exponential_backoff_interval(
            factor=int(backoff),
            retries=retries,
            maximum=getattr(task, "retry_backoff_max", 600),
            full_jitter=getattr(task, "retry_jitter", True),
        )
    )
