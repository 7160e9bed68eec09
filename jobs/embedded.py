"""The in-process worker and scheduler of the embedded runtime (``tsunagu serve`` on SQLite).

It runs the very Celery tasks a production worker runs, on a small thread pool, and runs the
periodic ones on their intervals. Sending never blocks the caller. A task that fails with one
of its ``autoretry_for`` errors is tried again after the countdown a Celery worker would wait
(its ``retry_backoff``, capped and jittered the same way), not at once: Celery's eager
``apply`` would spend every retry within milliseconds while, say, LINE is down.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from celery import Celery, Task
from celery.utils.time import get_exponential_backoff_interval

from config import Settings
from jobs.celery_app import PERIODIC, interval_of

log = logging.getLogger(__name__)

# The pool's threads start together within this (a busy machine takes milliseconds).
START_TIMEOUT_SECONDS = 10.0


class EmbeddedWorker:
    """A thread pool executing tasks by name, and a scheduler thread for the periodic ones."""

    def __init__(self, celery: Celery, settings: Settings, *, threads: int = 4) -> None:
        self._celery = celery
        self._settings = settings
        self._threads = threads
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="tsunagu-worker")
        self._stop = threading.Event()
        self._scheduler: threading.Thread | None = None
        self._retries: set[threading.Timer] = set()
        self._retries_lock = threading.Lock()
        # Tasks sent and not finished yet; ``paused`` waits for none to be left.
        self._busy = 0
        self._idle = threading.Condition()
        # Held by the scheduler while it sends; set by ``paused``, which holds it to set it.
        self._schedule_lock = threading.Lock()
        self._schedule_paused = False

    def send(self, task_name: str, kwargs: dict[str, Any], *, retries: int = 0) -> None:
        """Run ``task_name(**kwargs)`` soon on the pool (the after-commit task sender)."""
        if self._stop.is_set():
            log.info("worker stopping; %s left for the sweeper", task_name)
            return
        with self._idle:
            self._busy += 1
        try:
            future = self._pool.submit(self._run, task_name, kwargs, retries)
        except RuntimeError:
            # Shut down between the check above and now: the sweeper finds the work again.
            self._done()
            log.info("worker stopped; %s left for the sweeper", task_name)
            return
        # Run, or cancelled by a stop: either way it is no longer the worker's to finish.
        future.add_done_callback(self._done)

    def _done(self, _future: object = None) -> None:
        with self._idle:
            self._busy -= 1
            if self._busy == 0:
                self._idle.notify_all()

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
        timer.name = f"tsunagu-retry-{task_name}"
        timer.daemon = True
        with self._retries_lock:
            if self._stop.is_set() or self._schedule_paused:
                log.info(
                    "worker stopping or paused; the retry of %s is left for the sweeper", task_name
                )
                return
            self._retries.add(timer)
            # Started under the lock: a stop that takes it from the set may join it.
            timer.start()

    def start(self) -> None:
        """Start the pool's threads and the periodic scheduler (the sweeper runs at once, then
        on its interval)."""
        # Every pool thread is started here, not by whichever task first finds none idle: the
        # worker's threads are the same from start to stop (and a test's check for threads
        # left running counts them as the worker's, not as the test's that sent a task).
        started = threading.Barrier(self._threads + 1)
        for _ in range(self._threads):
            self._pool.submit(started.wait, START_TIMEOUT_SECONDS)
        started.wait(START_TIMEOUT_SECONDS)
        self._scheduler = threading.Thread(
            target=self._schedule, name="tsunagu-scheduler", daemon=True
        )
        self._scheduler.start()

    def _schedule(self) -> None:
        intervals = {name: interval_of(name, self._settings) for name in PERIODIC}
        next_run = dict.fromkeys(intervals, time.monotonic())
        while not self._stop.is_set():
            now = time.monotonic()
            with self._schedule_lock:
                if not self._schedule_paused:
                    for name, interval in intervals.items():
                        if now >= next_run[name]:
                            self.send(name, {})
                            next_run[name] = now + interval
            self._stop.wait(max(0.05, min(next_run.values()) - time.monotonic()))

    @contextlib.contextmanager
    def paused(self, *, timeout: float = 60.0) -> Iterator[None]:
        """Within: no periodic task is sent, the pending retries are dropped (the sweeper finds
        their work again) and every task sent before has finished — what emptying the
        database under a running worker needs (the tests do it between two tests). Tasks sent
        meanwhile (by a request) still run; the periodic ones overdue run on leaving."""
        with self._schedule_lock:
            self._schedule_paused = True
        try:
            self._cancel_retries()
            with self._idle:
                if not self._idle.wait_for(lambda: self._busy == 0, timeout=timeout):
                    raise RuntimeError(f"the embedded worker's tasks ran past {timeout:.0f} s")
            yield
        finally:
            with self._schedule_lock:
                self._schedule_paused = False

    def _cancel_retries(self) -> None:
        with self._retries_lock:
            timers, self._retries = self._retries, set()
        for timer in timers:
            timer.cancel()
        for timer in timers:
            if timer is not threading.current_thread():
                timer.join()

    def check(self) -> None:
        """Raise unless the worker is running (for ``/readyz``)."""
        if self._stop.is_set() or self._scheduler is None or not self._scheduler.is_alive():
            raise RuntimeError("embedded worker is not running")

    def stop(self, *, wait: bool = True) -> None:
        """Stop scheduling and finish the tasks already started (with ``wait``, before
        returning: no thread of the worker is left running)."""
        self._stop.set()
        # The sweeper finds the work of the pending retries again after a restart.
        self._cancel_retries()
        if self._scheduler is not None:
            self._scheduler.join()
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
