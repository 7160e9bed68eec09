"""Live updates: a console listening to ``/console/inbox/events`` hears of a friend's message
and of a change staff made, even when another hub process made it, and hears nothing of
another shop's conversations."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from typing import Any

from api.app import create_app
from console import app as console_app
from core.db import Database
from core.serving import ThreadedServer
from core.tenancy import Shop
from sandbox.line.server import SandboxServer
from staff.models import Role
from tests.api.admin_support import admin_api
from tests.console.support import Browser, add_staff
from tests.factories import ChannelSetup
from tests.inbox.support import conversation_id_of
from tests.messaging.support import add_followers
from tests.waiting import wait_for
from tsunagu.hub import Hub

EMAIL = "aoi@example.jp"


def _next_event(lines: Iterator[str]) -> dict[str, Any]:
    """The next ``conversation`` event of the stream (keep-alive comments skipped)."""
    for line in lines:
        if line.startswith("data: "):
            return json.loads(line.removeprefix("data: "))
    raise AssertionError("the stream ended")


def test_a_friends_message_reaches_an_open_console(
    db: Database, hub: Hub, line_sandbox: SandboxServer, shop: Shop, channel: ChannelSetup
) -> None:
    add_staff(db, shop, EMAIL, Role.VIEWER)
    ((friend_id, user_id),) = add_followers(db, line_sandbox.state, channel, 1).items()
    browser = Browser(hub.settings.public_url)
    browser.sign_in(EMAIL)

    with browser.client.stream("GET", "/console/inbox/events", timeout=30) as stream:
        lines = stream.iter_lines()
        assert stream.status_code == 200
        assert stream.headers["content-type"].startswith("text/event-stream")
        assert next(lines) == "retry: 2000"
        line_sandbox.simulate.send_text(user_id, "今から行きます", channel_id=channel.channel_id)
        event = _next_event(lines)

    assert event == {"conversation_id": conversation_id_of(db, friend_id), "kind": "message"}


def test_a_change_made_through_another_hub_process_reaches_the_console(
    db: Database, hub: Hub, line_sandbox: SandboxServer, shop: Shop, channel: ChannelSetup
) -> None:
    add_staff(db, shop, EMAIL, Role.OPERATOR)
    ((friend_id, user_id),) = add_followers(db, line_sandbox.state, channel, 1).items()
    line_sandbox.simulate.send_text(user_id, "予約の確認です", channel_id=channel.channel_id)
    conversation = wait_for(lambda: conversation_id_of(db, friend_id), what="the conversation")
    api = admin_api(db, hub.settings.public_url, shop)
    # A second hub process: its own app, engine and watcher, the same database.
    database = Database(hub.settings.resolved_database_url)
    app = create_app(hub.settings, database)
    console_app.install(app, hub.settings, database)
    other = ThreadedServer(app).start()
    try:
        browser = Browser(other.url)
        browser.sign_in(EMAIL)
        with browser.client.stream("GET", "/console/inbox/events", timeout=30) as stream:
            lines = stream.iter_lines()
            assert next(lines) == "retry: 2000"
            changed = api.put(f"/conversations/{conversation}/status", {"status": "resolved"})
            event = _next_event(lines)
    finally:
        other.stop()
        database.dispose()

    assert changed.status_code == 200
    assert event == {"conversation_id": conversation, "kind": "status"}


def test_a_hub_stopping_while_a_console_listens_ends_the_stream_and_stops_reading_signals(
    db: Database, hub: Hub, shop: Shop
) -> None:
    add_staff(db, shop, EMAIL, Role.VIEWER)
    database = Database(hub.settings.resolved_database_url)
    app = create_app(hub.settings, database)
    console_app.install(app, hub.settings, database)
    other = ThreadedServer(app).start()
    try:
        browser = Browser(other.url)
        browser.sign_in(EMAIL)
        before = set(threading.enumerate())
        with browser.client.stream("GET", "/console/inbox/events", timeout=30) as stream:
            assert next(stream.iter_lines()) == "retry: 2000"
            (watcher,) = [
                t for t in set(threading.enumerate()) - before if t.name == "tsunagu-inbox-signals"
            ]
            started = time.monotonic()
            other.stop()  # the console is still listening
            stopped_in = time.monotonic() - started
    finally:
        other.stop()
        database.dispose()

    assert stopped_in < 10, f"the hub took {stopped_in:.1f} s to stop"
    assert not watcher.is_alive(), "the stopped hub still reads the inbox signals"
