"""The embedded worker retries a failing task after the countdown a Celery worker would wait."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from itertools import pairwise

import pytest
from celery import Celery

from config import Settings
from connectors.errors import RetriableError
from jobs.embedded import EmbeddedWorker
from tests.waiting import wait_for


@pytest.fixture
def app() -> Celery:
    return Celery("embedded-retries", broker="memory://")


@pytest.fixture
def worker(app: Celery) -> Iterator[EmbeddedWorker]:
    worker = EmbeddedWorker(app, Settings(_env_file=None))
    yield worker
    worker.stop()


def test_a_task_that_fails_while_line_is_down_waits_its_backoff_between_tries(
    app: Celery, worker: EmbeddedWorker, caplog: pytest.LogCaptureFixture
) -> None:
    tries: list[float] = []

    @app.task(
        name="test.flaky",
        autoretry_for=(RetriableError,),
        retry_backoff=1,
        retry_jitter=False,
        max_retries=2,
    )
    def flaky() -> None:
        tries.append(time.monotonic())
        raise RetriableError("LINE answered 503")

    worker.send("test.flaky", {})

    wait_for(
        lambda: "test.flaky failed after 2 retries" in caplog.text,
        timeout=10,
        what="the task to give up after its two retries",
    )
    assert len(tries) == 3
    gaps = [later - earlier for earlier, later in pairwise(tries)]
    assert gaps[0] >= 0.95 and gaps[1] >= 1.95, f"retries came too soon: {gaps}"


def test_a_stopped_worker_leaves_pending_retries_to_the_sweeper(
    app: Celery, worker: EmbeddedWorker
) -> None:
    tried = threading.Event()
    tries: list[float] = []

    @app.task(
        name="test.down",
        autoretry_for=(RetriableError,),
        retry_backoff=1,
        retry_jitter=False,
        max_retries=5,
    )
    def down() -> None:
        tries.append(time.monotonic())
        tried.set()
        raise RetriableError("LINE answered 503")

    worker.send("test.down", {})
    assert tried.wait(5)
    waiting = wait_for(_pending_retries, timeout=5, what="the retry to be scheduled")
    worker.stop()

    # The stop cancels the retry at once, long before its 1 s countdown would have run it.
    for timer in waiting:
        timer.join(timeout=0.5)
    assert not any(timer.is_alive() for timer in waiting), "the pending retry was not cancelled"
    assert len(tries) == 1


def _pending_retries() -> list[threading.Timer]:
    return [
        thread
        for thread in threading.enumerate()
        if isinstance(thread, threading.Timer)
        and "EmbeddedWorker._retry_later" in thread.function.__qualname__
        and thread.is_alive()
    ]


def test_a_pause_lets_running_tasks_finish_and_drops_pending_retries(
    app: Celery, worker: EmbeddedWorker
) -> None:
    """What the tests do before emptying the database under the hub: nothing the worker was
    doing for one test runs in the next."""
    finished = threading.Event()
    down_tries: list[float] = []

    @app.task(name="test.slow")
    def slow() -> None:
        time.sleep(0.5)
        finished.set()

    @app.task(
        name="test.down_again",
        autoretry_for=(RetriableError,),
        retry_backoff=1,
        retry_jitter=False,
        max_retries=5,
    )
    def down_again() -> None:
        down_tries.append(time.monotonic())
        raise RetriableError("LINE answered 503")

    worker.send("test.down_again", {})
    waiting = wait_for(_pending_retries, timeout=5, what="the retry to be scheduled")
    worker.send("test.slow", {})

    with worker.paused():
        assert finished.is_set(), "the pause began before the running task finished"
        assert not any(timer.is_alive() for timer in waiting), "the pending retry is still due"
        assert not _pending_retries()
    assert len(down_tries) == 1

    finished.clear()
    worker.send("test.slow", {})  # after the pause, tasks run as before
    assert finished.wait(5)
