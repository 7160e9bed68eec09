"""What the production-mode tests share: the processes' environment and reading their results."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import func, select

from core.db import Database
from core.inbox import EventStatus, InboundEvent
from idlink.models import Friend
from sandbox.line.server import SandboxServer
from tests.conftest import TEST_SECRET_KEY
from tests.factories import ChannelSetup, make_channel, make_shop
from tests.jobs.processes import clean_environment
from tests.waiting import wait_for

PROCESSING_TIMEOUT = 30.0
# The sweeper's interval in these tests: short, so waiting on it stays cheap.
SWEEP_SECONDS = "0.5"


@dataclass(frozen=True, slots=True)
class ServedHub:
    """A running `tsunagu serve` and the environment it was given (for workers to share)."""

    port: int
    env: dict[str, str]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def hub_environment(
    *,
    database_url: str,
    broker_url: str,
    line_sandbox: SandboxServer,
    data_dir: Path,
    port: int,
) -> dict[str, str]:
    """The environment of a production process: configured only through TSUNAGU_* variables."""
    return clean_environment(
        TSUNAGU_DATABASE_URL=database_url,
        TSUNAGU_BROKER_URL=broker_url,
        TSUNAGU_SECRET_KEY=TEST_SECRET_KEY,
        TSUNAGU_DATA_DIR=str(data_dir),
        TSUNAGU_PUBLIC_URL=f"http://127.0.0.1:{port}",
        TSUNAGU_LINE_API_URL=line_sandbox.url,
        TSUNAGU_LINE_ACCESS_URL=line_sandbox.url,
        TSUNAGU_SWEEP_INTERVAL_SECONDS=SWEEP_SECONDS,
        TSUNAGU_LOG_FORMAT="text",
    )


def register_channel(db: Database, line_sandbox: SandboxServer, port: int) -> ChannelSetup:
    """A shop and channel in the processes' database, wired to the hub served on ``port``."""
    return make_channel(db, line_sandbox, f"http://127.0.0.1:{port}", make_shop(db))


def follow(line_sandbox: SandboxServer, channel: ChannelSetup, name: str) -> str:
    """A new sandbox user follows the channel; the hub must answer the webhook with 200."""
    user = line_sandbox.state.add_user(display_name=name)
    delivery = line_sandbox.simulate.follow(user.user_id, channel_id=channel.channel_id)
    assert delivery.status_code == 200, delivery.response_body
    return user.user_id


def events_by_status(db: Database, channel: ChannelSetup) -> dict[str, int]:
    """How many of the channel's stored events are in each status."""
    with db.session_scope() as session:
        rows = session.execute(
            select(InboundEvent.status, func.count())
            .where(InboundEvent.channel_id == channel.channel_pk)
            .group_by(InboundEvent.status)
        )
        return {status: count for status, count in rows}


def display_names(db: Database, channel: ChannelSetup) -> dict[str, str | None]:
    """LINE user id → display name of the channel's friends."""
    with db.session_scope() as session:
        friends = session.scalars(select(Friend).where(Friend.channel_id == channel.channel_pk))
        return {f.line_user_id: f.display_name for f in friends}


def wait_until_processed(db: Database, channel: ChannelSetup, count: int) -> None:
    """Wait until the channel's ``count`` stored events are all processed."""
    wait_for(
        lambda: events_by_status(db, channel) == {EventStatus.PROCESSED: count},
        timeout=PROCESSING_TIMEOUT,
        what=f"{count} events to be processed",
    )


def profile_fetches(line_sandbox: SandboxServer, user_id: str) -> int:
    """How many times the hub asked the sandbox LINE platform for this user's profile."""
    path = f"/v2/bot/profile/{user_id}"
    return sum(1 for call in line_sandbox.state.api_calls() if call.path == path)
