"""Two embedded hubs in one process (two shops' hubs, a command beside a served hub): each
one's tasks run on its own database."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from config import Settings
from core.serving import ThreadedServer, free_port
from idlink.models import Friend
from messaging.outbox.models import DeliveryState
from sandbox.line.server import SandboxServer
from tests.factories import make_channel, make_shop
from tests.jobs.production import follow, wait_until_processed
from tests.messaging.support import open_all_hours, plan, received_counts, wait_until_states
from tsunagu.hub import Hub, build_hub


@pytest.fixture
def two_hubs(settings: Settings, tmp_path: Path) -> Iterator[list[Hub]]:
    """Two hubs as `tsunagu serve` builds them, on two SQLite files, served on two ports."""
    started: list[tuple[Hub, ThreadedServer]] = []
    try:
        for name in ("north", "south"):
            port = free_port("127.0.0.1")
            data_dir = tmp_path / name
            data_dir.mkdir()
            own = settings.model_copy(
                update={
                    "data_dir": data_dir,
                    "database_url": f"sqlite:///{data_dir / 'tsunagu.db'}",
                    "public_url": f"http://127.0.0.1:{port}",
                }
            )
            hub = build_hub(own).start()
            started.append((hub, ThreadedServer(hub.app, port=port).start()))
        yield [hub for hub, _ in started]
    finally:
        for hub, server in reversed(started):
            server.stop()
            hub.stop()


def test_two_hubs_in_one_process_each_process_their_own_webhooks_and_deliveries(
    two_hubs: list[Hub], line_sandbox: SandboxServer
) -> None:
    channels = []
    for hub in two_hubs:
        channel = make_channel(
            hub.database, line_sandbox, hub.settings.public_url, make_shop(hub.database)
        )
        open_all_hours(hub.database, channel)
        channels.append(channel)
    users = [follow(line_sandbox, channel, "二つ目の店") for channel in channels]

    for hub, channel, user_id in zip(two_hubs, channels, users, strict=True):
        wait_until_processed(hub.database, channel, 1)
        with hub.database.session_scope() as session:
            friend_id = session.scalars(
                select(Friend.id).where(Friend.line_user_id == user_id)
            ).one()
        plan(hub.database, channel, [friend_id])
    for hub, channel, user_id in zip(two_hubs, channels, users, strict=True):
        wait_until_states(hub.database, {DeliveryState.SENT: 1})
        assert received_counts(line_sandbox.state, channel) == {user_id: 1}
