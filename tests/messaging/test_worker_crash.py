"""Exactly once under a crash: real `tsunagu worker` processes on PostgreSQL and Redis.

A 50,000-friend delivery is under way when its worker is killed with ``kill -9``; a new worker
and beat take over. The batches the dead worker had claimed are resent with their retry keys
once their lease expires: LINE (the sandbox) answers 409 for those it had accepted. It runs
twice: planned as one row per friend, and as an audience send (batches frozen up front).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from config import Settings
from core.db import Database
from jobs.celery_app import BrokerSender, create_celery
from messaging.models import DeliveryBatch, DeliveryState
from sandbox.line.server import SandboxServer
from tests.conftest import TEST_SECRET_KEY, skip_or_fail
from tests.factories import ChannelSetup, make_channel, make_shop
from tests.jobs.processes import Processes
from tests.jobs.production import hub_environment
from tests.messaging.support import (
    add_followers,
    open_all_hours,
    plan,
    plan_audience,
    received_counts,
    states,
)
from tests.scratch import empty_database
from tests.waiting import wait_for
from tsunagu.hub import open_database

FRIENDS = 50_000
# Slow enough (100 requests over 5 s) to kill the worker in the middle of the delivery.
MULTICAST_RATE = "20"


@pytest.fixture(scope="module")
def crash_database_url() -> str:
    url = os.environ.get("TSUNAGU_TEST_DATABASE_URL", "")
    if not url.startswith("postgresql"):
        skip_or_fail("the crash test runs on PostgreSQL: set TSUNAGU_TEST_DATABASE_URL")
    parsed = make_url(url)
    crash_url = parsed.set(database=f"{parsed.database}_crash")
    rendered = crash_url.render_as_string(hide_password=False)
    empty_database(rendered)
    return rendered


@pytest.fixture
def broker_url() -> str:
    url = os.environ.get("TSUNAGU_TEST_BROKER_URL", "")
    if not url.startswith("redis"):
        skip_or_fail("the crash test needs a Redis broker: set TSUNAGU_TEST_BROKER_URL")
    create_celery(Settings(_env_file=None, broker_url=url)).control.purge()
    return url


@pytest.fixture
def crash_db(crash_database_url: str, broker_url: str) -> Iterator[Database]:
    """The workers' database, seen from the test; planning nudges the workers through Redis."""
    settings = Settings(_env_file=None, database_url=crash_database_url, secret_key=TEST_SECRET_KEY)
    database = open_database(settings)
    database.task_sender = BrokerSender(
        create_celery(Settings(_env_file=None, broker_url=broker_url))
    )
    yield database
    database.dispose()


def plan_per_friend(database: Database, channel: ChannelSetup, friends: list[int]) -> int:
    return plan(database, channel, friends, source="campaign:per-friend").planned


def plan_one_audience(database: Database, channel: ChannelSetup, friends: list[int]) -> int:
    return plan_audience(database, channel, source="campaign:audience").planned


@pytest.mark.services
@pytest.mark.parametrize(
    ("planner", "source"),
    [(plan_per_friend, "campaign:per-friend"), (plan_one_audience, "campaign:audience")],
    ids=["per-friend", "audience"],
)
def test_a_worker_killed_mid_delivery_leaves_every_friend_with_exactly_one_message(
    crash_db: Database,
    broker_url: str,
    line_sandbox: SandboxServer,
    tmp_path: Path,
    planner: Callable[[Database, ChannelSetup, list[int]], int],
    source: str,
) -> None:
    channel = make_channel(crash_db, line_sandbox, "http://127.0.0.1:9", make_shop(crash_db))
    open_all_hours(crash_db, channel)
    friends = add_followers(crash_db, line_sandbox.state, channel, FRIENDS)
    env = hub_environment(
        database_url=crash_db.url,
        broker_url=broker_url,
        line_sandbox=line_sandbox,
        data_dir=tmp_path / "data",
        port=9,
    )
    env["TSUNAGU_LINE_MULTICAST_RATE"] = MULTICAST_RATE
    line_sandbox.state.set_monthly_quota(channel.channel_id, None)
    processes = Processes(tmp_path)
    try:
        doomed = processes.start("worker", "--concurrency", "2", env=env)
        doomed.wait_for_output("ready")

        assert planner(crash_db, channel, list(friends)) == FRIENDS
        wait_for(
            lambda: sum(received_counts(line_sandbox.state, channel).values()) >= FRIENDS // 5,
            timeout=60,
            what="the delivery to be under way",
        )
        doomed.kill()
        delivered_before_the_crash = sum(received_counts(line_sandbox.state, channel).values())
        assert delivered_before_the_crash < FRIENDS

        processes.start("worker", "--concurrency", "2", env=env)
        processes.start("beat", env=env)
        wait_for(
            lambda: states(crash_db, source) == {DeliveryState.SENT: FRIENDS},
            timeout=180,
            what=f"all {FRIENDS} deliveries to be sent",
        )
    finally:
        processes.stop_all()

    received = received_counts(line_sandbox.state, channel)
    assert len(received) == FRIENDS and set(received.values()) == {1}
    with crash_db.session_scope() as session:
        in_sent_batches = session.scalar(
            select(func.sum(DeliveryBatch.recipients)).where(
                DeliveryBatch.state == "sent", DeliveryBatch.channel_id == channel.channel_pk
            )
        )
    assert in_sent_batches == FRIENDS
