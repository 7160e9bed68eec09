"""Production mode on RabbitMQ: the same processes and tasks with an ``amqp://`` broker."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from config import Settings
from core.db import Database
from jobs.celery_app import create_celery
from messaging.outbox.models import DeliveryState, RateSlot
from sandbox.line.server import SandboxServer
from tests.jobs.processes import Processes, wait_until_healthy
from tests.jobs.production import (
    display_names,
    follow,
    hub_environment,
    register_channel,
    wait_until_processed,
)
from tests.messaging.support import add_followers, open_all_hours, plan, wait_until_states


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
