"""Redis stopping mid-run: intake goes on answering 200, and no event is lost.

The hub's nudges are only hints. Events stored while Redis is down, and the nudges Redis held
when it stopped (it keeps nothing on disk here), are found again by the sweeper once a broker
answers: every event is processed, each once.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import redis

from core.db import Database
from core.inbox import EventStatus
from core.serving import free_port
from sandbox.line.server import SandboxServer
from tests.conftest import skip_or_fail
from tests.jobs.processes import Processes
from tests.jobs.production import (
    display_names,
    events_by_status,
    follow,
    hub_environment,
    profile_fetches,
    register_channel,
    wait_until_processed,
)
from tests.waiting import wait_for

SENDERS = 4


class RedisServer:
    """A redis-server of this test's own, on a port of its own, with nothing kept on disk."""

    def __init__(self, workdir: Path) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            skip_or_fail("this test stops a Redis of its own: install redis-server")
        self.port = free_port("127.0.0.1")
        self._args = [
            binary,
            *("--port", str(self.port), "--bind", "127.0.0.1", "--save", ""),
            *("--appendonly", "no", "--dir", str(workdir)),
        ]
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self._process = subprocess.Popen(
            self._args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        wait_for(self._answers, what="redis-server to accept connections")

    def stop(self) -> None:
        if self._process is not None:
            self._process.kill()
            self._process.wait(10)
            self._process = None

    def _answers(self) -> bool:
        try:
            return bool(redis.Redis(port=self.port, socket_timeout=1).ping())
        except redis.ConnectionError:
            return False


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def test_redis_stopped_mid_run_loses_no_event_and_the_sweeper_finds_them(
    prod_db: Database,
    own_redis: RedisServer,
    line_sandbox: SandboxServer,
    processes: Processes,
    serve_port: int,
    tmp_path: Path,
) -> None:
    env = hub_environment(
        database_url=prod_db.url,
        broker_url=own_redis.url,
        line_sandbox=line_sandbox,
        data_dir=tmp_path / "data",
        port=serve_port,
    )
    processes.serve(serve_port, env=env)
    worker = processes.start("worker", "--concurrency", "1", env=env)
    channel = register_channel(prod_db, line_sandbox, serve_port)
    worker.wait_for_output("ready.")
    before = [follow(line_sandbox, channel, f"前 {n}") for n in range(4)]
    wait_until_processed(prod_db, channel, 4)

    own_redis.stop()
    started = time.monotonic()
    during = [follow(line_sandbox, channel, f"停止中 {n}") for n in range(6)]
    elapsed = time.monotonic() - started

    assert elapsed < 5.0, f"6 webhooks took {elapsed:.1f}s: intake waited on the broker"
    assert events_by_status(prod_db, channel) == {
        EventStatus.PROCESSED: 4,
        EventStatus.PENDING: 6,
    }
    own_redis.start()  # empty: whatever it held is gone
    processes.start("beat", env=env)

    wait_until_processed(prod_db, channel, 10)
    names = [f"前 {n}" for n in range(4)] + [f"停止中 {n}" for n in range(6)]
    assert display_names(prod_db, channel) == dict(zip(before + during, names, strict=True))
    assert [profile_fetches(line_sandbox, u) for u in before + during] == [1] * 10


def test_redis_killed_while_webhooks_stream_in_loses_no_event(
    prod_db: Database,
    own_redis: RedisServer,
    line_sandbox: SandboxServer,
    processes: Processes,
    serve_port: int,
    tmp_path: Path,
) -> None:
    """Concurrent webhooks are being stored and their nudges gathered and published when Redis
    dies: some nudges are in Redis (and die with it), some are gathered, some fail to publish.
    Every webhook still gets its 200, and the sweeper processes every event once."""
    env = hub_environment(
        database_url=prod_db.url,
        broker_url=own_redis.url,
        line_sandbox=line_sandbox,
        data_dir=tmp_path / "data",
        port=serve_port,
    )
    processes.serve(serve_port, env=env)
    worker = processes.start("worker", "--concurrency", "1", env=env)
    channel = register_channel(prod_db, line_sandbox, serve_port)
    worker.wait_for_output("ready.")
    names = [f"流入 {n}" for n in range(48)]
    acknowledged: list[str] = []

    def follow_and_count(name: str) -> str:
        user_id = follow(line_sandbox, channel, name)  # asserts the 200
        acknowledged.append(user_id)
        return user_id

    with ThreadPoolExecutor(max_workers=SENDERS) as senders:
        followed = senders.map(follow_and_count, names)
        wait_for(lambda: len(acknowledged) >= 16, what="a third of the webhooks acknowledged")
        own_redis.stop()
        acknowledged_before_the_stop = len(acknowledged)
        user_ids = list(followed)

    assert len(acknowledged) == len(names)
    # What came in after the stop could not be nudged: only the sweeper can find it (each
    # sender may have had one answer on its way when Redis stopped).
    unnudged = len(names) - acknowledged_before_the_stop - SENDERS
    assert events_by_status(prod_db, channel).get(EventStatus.PENDING, 0) >= unnudged > 0
    own_redis.start()  # empty: the nudges it held are gone
    processes.start("beat", env=env)
    # The first worker comes back on its own, after a reconnection back-off that can outlast
    # the wait below; a second one, as a restart would bring, takes the sweeper's tasks at once.
    processes.start("worker", "--concurrency", "1", env=env)

    wait_until_processed(prod_db, channel, len(names))
    assert display_names(prod_db, channel) == dict(zip(user_ids, names, strict=True))
    assert [profile_fetches(line_sandbox, u) for u in user_ids] == [1] * len(names)
