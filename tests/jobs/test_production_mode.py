"""Production mode with real processes: `tsunagu serve`, `worker`, `beat` on PostgreSQL and Redis.

The database is the source of truth and the broker only carries nudges: intake answers 200 once
the events are committed, whether or not a worker runs or the broker answers, and the sweeper
finishes whatever a lost nudge or a killed worker left behind.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from kombu import Connection
from sqlalchemy import text

from core.db import Database
from core.inbox import EventStatus
from core.serving import free_port
from sandbox.line.server import SandboxServer
from tests.jobs.processes import Processes
from tests.jobs.production import (
    PROCESSING_TIMEOUT,
    ServedHub,
    display_names,
    events_by_status,
    follow,
    hub_environment,
    profile_fetches,
    register_channel,
    wait_until_processed,
)
from tests.waiting import wait_for


@pytest.fixture(scope="module")
def served(
    prod_database: Database,
    redis_broker: str,
    line_sandbox: SandboxServer,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[ServedHub]:
    """One `tsunagu serve` on PostgreSQL and Redis for this module's tests (no worker)."""
    workdir = tmp_path_factory.mktemp("served")
    port = free_port("127.0.0.1")
    env = hub_environment(
        database_url=prod_database.url,
        broker_url=redis_broker,
        line_sandbox=line_sandbox,
        data_dir=workdir / "data",
        port=port,
    )
    launcher = Processes(workdir)
    try:
        launcher.serve(port, env=env)
        yield ServedHub(port=port, env=env)
    finally:
        launcher.stop_all()


def test_webhook_is_acknowledged_with_no_worker_running_and_processed_once_a_worker_starts(
    prod_db: Database,
    redis_url: str,
    line_sandbox: SandboxServer,
    served: ServedHub,
    processes: Processes,
) -> None:
    channel = register_channel(prod_db, line_sandbox, served.port)

    user_id = follow(line_sandbox, channel, "本田 未来")

    assert events_by_status(prod_db, channel) == {EventStatus.PENDING: 1}
    assert display_names(prod_db, channel) == {}

    worker = processes.start("worker", "--concurrency", "1", env=served.env)

    wait_until_processed(prod_db, channel, 1)
    assert display_names(prod_db, channel) == {user_id: "本田 未来"}
    assert worker.stop() == 0, "SIGTERM is a warm shutdown"


def test_readyz_reports_the_database_and_the_broker_reachable(served: ServedHub) -> None:
    ready = httpx.get(f"{served.url}/readyz", timeout=10)

    assert ready.status_code == 200
    assert ready.json()["checks"] == {"database": "ok", "broker": "ok"}


def test_a_worker_forks_with_no_database_connection_and_connects_for_its_first_task(
    prod_db: Database,
    redis_url: str,
    line_sandbox: SandboxServer,
    served: ServedHub,
    processes: Processes,
) -> None:
    # libpq names the worker's connections, so they can be told from everyone else's.
    name = "tsunagu-fork-test"
    worker = processes.start("worker", "--concurrency", "2", env={**served.env, "PGAPPNAME": name})
    worker.wait_for_output("ready.")

    assert connections_named(prod_db, name) == 0

    channel = register_channel(prod_db, line_sandbox, served.port)
    follow(line_sandbox, channel, "森 陽向")
    wait_until_processed(prod_db, channel, 1)
    assert connections_named(prod_db, name) >= 1


def connections_named(db: Database, application_name: str) -> int:
    """Open connections to the processes' database with this ``application_name``."""
    with db.engine.connect() as connection:
        return connection.scalar(
            text(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE datname = current_database() AND application_name = :name"
            ),
            {"name": application_name},
        )


def test_a_worker_killed_mid_task_loses_nothing_and_a_new_worker_processes_each_event_once(
    prod_db: Database,
    redis_url: str,
    line_sandbox: SandboxServer,
    served: ServedHub,
    processes: Processes,
) -> None:
    channel = register_channel(prod_db, line_sandbox, served.port)
    doomed = processes.start("worker", "--concurrency", "2", env=served.env)

    # Hold the friends table so the worker's tasks stop half-way, inside their transactions.
    with prod_db.engine.connect() as blocker:
        blocker.execute(text("LOCK TABLE friends IN SHARE MODE"))
        # The hub gathers the nudges of events that arrive within 10 ms into one task: the
        # second follow waits until the first task is stuck, so the two are separate tasks.
        users = []
        for n in range(4):
            users.append(follow(line_sandbox, channel, f"客 {n}"))
            if n == 0:
                wait_for(
                    lambda: sessions_waiting_on_a_lock(prod_db) >= 1,
                    timeout=PROCESSING_TIMEOUT,
                    what="the worker to be in the middle of its first task",
                )
        wait_for(
            lambda: sessions_waiting_on_a_lock(prod_db) >= 2,
            timeout=PROCESSING_TIMEOUT,
            what="the worker to be in the middle of two tasks",
        )
        doomed.kill()
        blocker.rollback()

    processes.start("worker", "--concurrency", "2", env=served.env)
    processes.start("beat", env=served.env)

    wait_until_processed(prod_db, channel, 4)
    assert display_names(prod_db, channel) == {u: f"客 {n}" for n, u in enumerate(users)}
    assert [profile_fetches(line_sandbox, u) for u in users] == [1, 1, 1, 1]


def sessions_waiting_on_a_lock(db: Database) -> int:
    """Sessions of the processes' database blocked on a lock held by someone else."""
    with db.engine.connect() as connection:
        return connection.scalar(
            text(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
        )


def test_beat_sends_the_sweep_to_the_broker_on_its_interval(
    redis_url: str, served: ServedHub, processes: Processes
) -> None:
    beat = processes.start("beat", env=served.env)

    sent = take_task_names(redis_url, until=lambda names: names.count("events.sweep") >= 2)

    assert sent.count("events.sweep") == 2
    data_dir = Path(served.env["TSUNAGU_DATA_DIR"])
    assert beat.stop() == 0, beat.output()
    assert list(data_dir.glob("celerybeat-schedule*")), "beat keeps its schedule in the data dir"


def test_intake_stores_events_while_the_broker_is_down_and_the_sweeper_processes_them(
    prod_db: Database,
    redis_url: str,
    line_sandbox: SandboxServer,
    processes: Processes,
    serve_port: int,
    tmp_path: Path,
) -> None:
    down_broker = f"redis://127.0.0.1:{free_port('127.0.0.1')}/0"
    common: dict[str, Any] = {
        "database_url": prod_db.url,
        "line_sandbox": line_sandbox,
        "data_dir": tmp_path / "data",
        "port": serve_port,
    }
    env = hub_environment(broker_url=redis_url, **common)
    worker = processes.start("worker", "--concurrency", "1", env=env)
    processes.serve(serve_port, env=hub_environment(broker_url=down_broker, **common))
    channel = register_channel(prod_db, line_sandbox, serve_port)

    started = time.monotonic()
    users = [follow(line_sandbox, channel, f"会員 {n}") for n in range(8)]
    elapsed = time.monotonic() - started

    assert elapsed < 3.0, f"8 webhooks took {elapsed:.1f}s: intake waited on the broker"
    ready = httpx.get(f"http://127.0.0.1:{serve_port}/readyz", timeout=10)
    assert ready.status_code == 503
    assert ready.json()["checks"]["database"] == "ok"
    assert ready.json()["checks"]["broker"].startswith("unreachable")
    worker.wait_for_output("ready.")
    assert events_by_status(prod_db, channel) == {EventStatus.PENDING: 8}, "no nudge reached it"

    processes.start("beat", env=env)

    wait_until_processed(prod_db, channel, 8)
    assert display_names(prod_db, channel) == {u: f"会員 {n}" for n, u in enumerate(users)}


def take_task_names(broker_url: str, *, until: Callable[[list[str]], bool]) -> list[str]:
    """Take task messages from the default queue, in order, until ``until(names)`` holds."""
    deadline = time.monotonic() + PROCESSING_TIMEOUT
    names: list[str] = []
    with Connection(broker_url) as connection, connection.SimpleQueue("celery") as queue:
        while not until(names):
            try:
                message = queue.get(timeout=max(0.1, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"only {names} sent in {PROCESSING_TIMEOUT}s") from None
            names.append(message.headers["task"])
            message.ack()
    return names
