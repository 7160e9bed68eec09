"""Live updates: a console listening to ``/console/inbox/events`` hears of a friend's message
and of a change staff made, even when another hub process made it, and hears nothing of
another shop's conversations."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy import text

from api.app import create_app
from console import app as console_app
from console import live
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


LISTENERS = text(
    "SELECT pid FROM pg_stat_activity"
    " WHERE application_name = :name AND datname = current_database()"
)


def _listeners(db: Database) -> list[int]:
    """The backends of the watchers' listener connections (none on SQLite)."""
    if db.is_sqlite:
        return []
    with db.engine.connect() as connection:
        return list(connection.scalars(LISTENERS, {"name": live.LISTENER_NAME}))


def _watcher_threads() -> int:
    return sum(1 for thread in threading.enumerate() if thread.name == "tsunagu-inbox-signals")


@contextmanager
def _other_hub(hub: Hub, watcher_options: dict[str, Any]) -> Iterator[tuple[str, FastAPI]]:
    """A second hub process: its own app, engine and watcher, the same database."""
    database = Database(hub.settings.resolved_database_url)
    app = create_app(hub.settings, database)
    watcher = live.SignalWatcher(database, **watcher_options)
    console_app.install(app, hub.settings, database, inbox_watcher=watcher)
    server = ThreadedServer(app).start()
    try:
        yield server.url, app
    finally:
        console_app.stop(app)
        server.stop()
        database.dispose()


def _resolved_conversation(
    db: Database, hub: Hub, line_sandbox: SandboxServer, channel: ChannelSetup
) -> int:
    ((friend_id, user_id),) = add_followers(db, line_sandbox.state, channel, 1).items()
    line_sandbox.simulate.send_text(user_id, "予約の確認です", channel_id=channel.channel_id)
    return wait_for(lambda: conversation_id_of(db, friend_id), what="the conversation")


def test_changes_reach_another_process_when_committed_not_on_a_timer(
    db: Database, hub: Hub, line_sandbox: SandboxServer, shop: Shop, channel: ChannelSetup
) -> None:
    add_staff(db, shop, EMAIL, Role.OPERATOR)
    conversation = _resolved_conversation(db, hub, line_sandbox, channel)
    api = admin_api(db, hub.settings.public_url, shop)
    # The other process reads without a wake only once a minute: what reaches its consoles
    # within the stream's 5 s came through the wake-up.
    with _other_hub(hub, {"safety_poll_seconds": 60}) as (url, _app):
        browser, colleague = Browser(url), Browser(url)
        browser.sign_in(EMAIL)
        colleague.sign_in(EMAIL)
        with (
            browser.client.stream("GET", "/console/inbox/events", timeout=5) as stream,
            colleague.client.stream("GET", "/console/inbox/events", timeout=5) as second,
        ):
            lines, other_lines = stream.iter_lines(), second.iter_lines()
            assert next(lines) == next(other_lines) == "retry: 2000"
            listening = _listeners(db)
            heard = []
            for number in range(20):
                status = "resolved" if number % 2 else "open"
                changed = api.put(f"/conversations/{conversation}/status", {"status": status})
                assert changed.status_code == 200
                heard.append(_next_event(lines))
                assert _next_event(other_lines) == heard[-1]

    assert heard == [{"conversation_id": conversation, "kind": "status"}] * 20
    # One listener connection for the process, however many consoles it serves.
    assert len(listening) == (0 if db.is_sqlite else 1)


def test_a_dropped_listener_connection_is_opened_again_and_nothing_is_missed(
    db: Database,
    hub: Hub,
    line_sandbox: SandboxServer,
    shop: Shop,
    channel: ChannelSetup,
    caplog: pytest.LogCaptureFixture,
) -> None:
    if db.is_sqlite:
        pytest.skip("SQLite wakes in-process: there is no listener connection to lose")
    add_staff(db, shop, EMAIL, Role.OPERATOR)
    conversation = _resolved_conversation(db, hub, line_sandbox, channel)
    api = admin_api(db, hub.settings.public_url, shop)
    caplog.set_level(logging.WARNING, logger="core.wakeup")
    with _other_hub(hub, {"safety_poll_seconds": 60}) as (url, _app):
        browser = Browser(url)
        browser.sign_in(EMAIL)
        with browser.client.stream("GET", "/console/inbox/events", timeout=5) as stream:
            lines = stream.iter_lines()
            assert next(lines) == "retry: 2000"
            (first,) = _listeners(db)
            with db.engine.connect() as connection:
                connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": first})
            # Committed while the listener is gone or coming back: read when it is back.
            during = api.put(f"/conversations/{conversation}/status", {"status": "open"})
            heard = [_next_event(lines)]
            (second,) = wait_for(
                lambda: first not in (found := _listeners(db)) and found,
                what="the listener connection back",
            )
            # Then woken again by the new connection (the safety read is a minute away).
            after = api.put(f"/conversations/{conversation}/status", {"status": "resolved"})
            heard.append(_next_event(lines))

    assert during.status_code == after.status_code == 200
    assert second != first
    assert heard == [{"conversation_id": conversation, "kind": "status"}] * 2
    assert "the listener connection of inbox_signals dropped" in caplog.text


def test_a_console_that_goes_leaves_no_watcher_thread_or_connection(
    db: Database, hub: Hub, shop: Shop
) -> None:
    add_staff(db, shop, EMAIL, Role.VIEWER)
    browser = Browser(hub.settings.public_url)
    browser.sign_in(EMAIL)
    wait_for(lambda: _watcher_threads() == 0, what="no watcher before the console opens")

    with browser.client.stream("GET", "/console/inbox/events", timeout=5) as stream:
        lines = stream.iter_lines()
        assert next(lines) == "retry: 2000"
        threads_while_open, listeners_while_open = _watcher_threads(), _listeners(db)

    assert threads_while_open == 1
    assert len(listeners_while_open) == (0 if db.is_sqlite else 1)
    wait_for(lambda: _watcher_threads() == 0, what="the watcher to stop")
    wait_for(lambda: not _listeners(db), what="the listener connection to close")


def test_stopping_the_hub_ends_the_open_streams_and_the_listener(
    db: Database, hub: Hub, shop: Shop
) -> None:
    add_staff(db, shop, EMAIL, Role.VIEWER)
    with _other_hub(hub, {}) as (url, app):
        browser = Browser(url)
        browser.sign_in(EMAIL)
        with browser.client.stream("GET", "/console/inbox/events", timeout=5) as stream:
            lines = stream.iter_lines()
            assert next(lines) == "retry: 2000"
            console_app.stop(app)
            # The stream ends (a stream left open would time out reading, after 5 s).
            rest = list(lines)

    assert not [line for line in rest if line.startswith("data: ")]
    assert not _listeners(db)
    assert _watcher_threads() == 0


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
