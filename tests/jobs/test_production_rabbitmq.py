"""Production mode on RabbitMQ: the same processes and tasks with an ``amqp://`` broker."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from config import Settings
from core.db import Database
from jobs.celery_app import create_celery
from messaging.outbox.models import Delivery, DeliveryAttempt, DeliveryState, RateSlot
from sandbox.line.server import SandboxServer
from tests.jobs.processes import Processes, wait_until_healthy
from tests.jobs.production import (
    display_names,
    follow,
    hub_environment,
    register_channel,
    wait_until_processed,
)
from tests.messaging.support import (
    add_followers,
    attempts,
    open_all_hours,
    plan,
    wait_until_states,
)
from tests.waiting import wait_for

# LINE's push limit, lowered in the sandbox so that a few dozen pushes can exceed it: eleven
# requests in any two seconds. The hub is told 4/s: its shared slots (3.88/s, 7.8 in two
# seconds) keep well inside, even with a request delayed half a second by a loaded machine;
# two processes keeping slots of their own send 7.76/s together, 15 in two seconds.
SANDBOX_PUSH_LIMIT = (11, 2.0)
HUB_PUSH_RATE = 4


def personal(friend_id: int) -> list[dict[str, str]]:
    """A text of the friend's own: one push each, no multicast."""
    return [{"type": "text", "text": f"{friend_id}"}]


def test_a_webhook_is_processed_by_a_worker_on_rabbitmq(
    prod_db: Database,
    amqp_url: str,
    line_sandbox: SandboxServer,
    processes: Processes,
    serve_port: int,
    tmp_path: Path,
) -> None:
    env = hub_environment(
        database_url=prod_db.url,
        broker_url=amqp_url,
        line_sandbox=line_sandbox,
        data_dir=tmp_path / "data",
        port=serve_port,
    )
    serve = processes.start("serve", "--port", str(serve_port), env=env)
    processes.start("worker", "--concurrency", "1", env=env)
    wait_until_healthy(serve, serve_port)
    channel = register_channel(prod_db, line_sandbox, serve_port)

    user_id = follow(line_sandbox, channel, "木村 葵")

    wait_until_processed(prod_db, channel, 1)
    assert display_names(prod_db, channel) == {user_id: "木村 葵"}


def test_workers_on_rabbitmq_take_lines_rate_limit_slots_from_postgresql(
    prod_db: Database,
    amqp_url: str,
    line_sandbox: SandboxServer,
    processes: Processes,
    serve_port: int,
    tmp_path: Path,
) -> None:
    env = hub_environment(
        database_url=prod_db.url,
        broker_url=amqp_url,
        line_sandbox=line_sandbox,
        data_dir=tmp_path / "data",
        port=serve_port,
    )
    processes.start("worker", "--concurrency", "2", env=env)
    channel = register_channel(prod_db, line_sandbox, serve_port)
    open_all_hours(prod_db, channel)
    friends = add_followers(prod_db, line_sandbox.state, channel, 3)
    plan(prod_db, channel, list(friends), messages=lambda f: [{"type": "text", "text": f"{f}"}])

    celery = create_celery(Settings(_env_file=None, broker_url=amqp_url))
    celery.send_task("messaging.dispatch")

    wait_until_states(prod_db, {DeliveryState.SENT: 3})
    with prod_db.session_scope() as session:
        assert session.scalars(select(RateSlot.key)).all() == [f"{channel.channel_id}:push"]


@pytest.fixture
def push_limit(line_sandbox: SandboxServer) -> Iterator[None]:
    limit, window = SANDBOX_PUSH_LIMIT
    line_sandbox.state.set_rate_limit("pushMessage", limit, per_seconds=window)
    yield
    line_sandbox.state.set_rate_limit("pushMessage", 2000, per_seconds=1.0)


def test_two_worker_processes_on_rabbitmq_together_stay_under_lines_limit(
    prod_db: Database,
    amqp_url: str,
    line_sandbox: SandboxServer,
    processes: Processes,
    serve_port: int,
    tmp_path: Path,
    push_limit: None,
) -> None:
    env = hub_environment(
        database_url=prod_db.url,
        broker_url=amqp_url,
        line_sandbox=line_sandbox,
        data_dir=tmp_path / "data",
        port=serve_port,
    )
    env["TSUNAGU_LINE_PUSH_RATE"] = str(HUB_PUSH_RATE)
    processes.start("worker", "--concurrency", "2", env=env)
    # The sweeper hands a push LINE refused with 429 back to a worker once its backoff ends.
    processes.start("beat", env=env)
    channel = register_channel(prod_db, line_sandbox, serve_port)
    open_all_hours(prod_db, channel)
    friends = list(add_followers(prod_db, line_sandbox.state, channel, 36))
    celery = create_celery(Settings(_env_file=None, broker_url=amqp_url))

    # The first process takes 24 pushes (six seconds' worth); while it sends them, the second
    # process takes the next dozen, and both send to the same channel at once.
    plan(prod_db, channel, friends[:24], source="campaign:1", messages=personal)
    celery.send_task("messaging.dispatch")
    wait_for(lambda: attempts(prod_db), timeout=60, what="the first push on its way")
    plan(prod_db, channel, friends[24:], source="campaign:2", messages=personal)
    celery.send_task("messaging.dispatch")

    wait_until_states(prod_db, {DeliveryState.SENT: 24}, source="campaign:1", timeout=60)
    wait_until_states(prod_db, {DeliveryState.SENT: 12}, source="campaign:2", timeout=60)
    with prod_db.session_scope() as session:
        tries = session.execute(
            select(DeliveryAttempt.started_at, DeliveryAttempt.status_code, Delivery.source)
            .join(Delivery, Delivery.batch_id == DeliveryAttempt.batch_id)
            .order_by(DeliveryAttempt.started_at)
        ).all()
    first_wave = [t.started_at for t in tries if t.source == "campaign:1"]
    second_wave = [t.started_at for t in tries if t.source == "campaign:2"]
    assert second_wave[0] < first_wave[-1], "the two processes never sent at the same time"
    assert [t.status_code for t in tries if t.status_code != 200] == [], (
        "LINE answered 429: the processes together went over its limit"
    )
