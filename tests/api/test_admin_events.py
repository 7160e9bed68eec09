"""Inbound events and member links through the admin API: what arrived, what came of it."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import update

from core import audit
from core.db import Database
from core.inbox import EventStatus, InboundEvent, IncomingEvent, store_events
from core.tenancy import Shop
from sandbox.line.server import SandboxServer
from tests.api.admin_support import AdminApi, add_friend, add_link, add_member, admin_api
from tests.factories import ChannelSetup
from tests.waiting import wait_for


@pytest.fixture
def admin(db: Database, hub_url: str, shop: Shop) -> AdminApi:
    return admin_api(db, hub_url, shop)


def test_webhook_events_are_listed_with_how_their_processing_went(
    line_sandbox: SandboxServer, channel: ChannelSetup, admin: AdminApi
) -> None:
    user = line_sandbox.state.add_user()
    line_sandbox.simulate.follow(user.user_id, channel_id=channel.channel_id)
    line_sandbox.simulate.send_text(user.user_id, "こんにちは", channel_id=channel.channel_id)

    def processed() -> list[dict]:
        items = admin.get("/events", status="processed").json()["items"]
        return items if len(items) == 2 else []

    events = wait_for(processed, what="both events processed")

    assert [e["event_type"] for e in events] == ["message", "follow"]
    assert all(e["source"] == "line" and e["channel_id"] == channel.channel_id for e in events)
    assert all(e["processed_at"] and e["last_error"] is None for e in events)
    messages = admin.get("/events", type="message").json()["items"]
    assert [e["id"] for e in messages] == [events[0]["id"]]
    detail = admin.get(f"/events/{messages[0]['id']}").json()
    assert detail["payload"]["message"]["text"] == "こんにちは"
    assert detail["payload"]["webhookEventId"] == detail["dedup_key"]
    assert admin.get("/events", status="pending").json()["items"] == []


def test_failed_events_can_be_found_with_their_last_error(
    db: Database, line_sandbox: SandboxServer, channel: ChannelSetup, admin: AdminApi
) -> None:
    user = line_sandbox.state.add_user()
    line_sandbox.simulate.follow(user.user_id, channel_id=channel.channel_id)
    wait_for(lambda: admin.get("/events", status="processed").json()["items"], what="processing")
    with db.session_scope() as session:
        session.execute(
            update(InboundEvent)
            .where(InboundEvent.channel_id == channel.channel_pk)
            .values(status=EventStatus.FAILED, attempts=10, last_error="LineUnavailable: 503")
        )

    failed = admin.get("/events", status="failed").json()["items"]

    assert [(e["event_type"], e["attempts"], e["last_error"]) for e in failed] == [
        ("follow", 10, "LineUnavailable: 503")
    ]
    assert admin.get("/events", status="processed").json()["items"] == []


def test_links_are_listed_current_and_ended_with_who_is_on_each_side(
    db: Database, shop: Shop, channel: ChannelSetup, admin: AdminApi
) -> None:
    hanako = add_member(db, shop.id, "M-1")
    taro = add_member(db, shop.id, "M-2")
    first_friend = add_friend(db, channel.channel_pk, "U" + "a" * 32)
    second_friend = add_friend(db, channel.channel_pk, "U" + "b" * 32)
    ended = add_link(db, shop.id, first_friend, hanako, ended=True)
    current = add_link(db, shop.id, second_friend, hanako)
    other = add_link(db, shop.id, first_friend, taro)

    def link_ids(**params: str) -> list[int]:
        return [link["id"] for link in admin.get("/links", **params).json()["items"]]

    assert link_ids() == [other, current, ended]
    assert link_ids(active="true") == [other, current]
    assert link_ids(active="false") == [ended]
    assert link_ids(member_id=str(hanako)) == [current, ended]
    assert link_ids(friend_id=str(first_friend), active="true") == [other]
    assert link_ids(method="liff") == []
    history = admin.get("/links", member_id=str(hanako)).json()["items"]
    assert history[0]["line_user_id"] == "U" + "b" * 32
    assert history[0]["member_number"] == "M-1"
    assert history[0]["active"] is True
    assert history[1]["active"] is False
    assert history[1]["unlinked_by"] == "test"


def test_audit_records_and_events_can_be_narrowed_to_a_time_window(
    db: Database, shop: Shop, admin: AdminApi
) -> None:
    with db.session_scope() as session:
        for day in (1, 2, 3):
            audit.record(
                session,
                shop_id=shop.id,
                actor="staff",
                action="member.updated",
                subject_type="member",
                subject_id=day,
                now=datetime(2026, 11, day, 9, 0, tzinfo=UTC),
            )
        store_events(
            session,
            source="test",
            shop_id=shop.id,
            channel_id=None,
            events=[IncomingEvent(dedup_key="old", event_type="ping", payload={})],
            now=datetime(2026, 11, 1, 9, 0, tzinfo=UTC),
        )
        store_events(
            session,
            source="test",
            shop_id=shop.id,
            channel_id=None,
            events=[IncomingEvent(dedup_key="new", event_type="ping", payload={})],
            now=datetime(2026, 11, 3, 9, 0, tzinfo=UTC),
        )

    window = admin.get("/audit", since="2026-11-02T00:00:00Z", until="2026-11-03T09:00:00+00:00")
    since_in_tokyo = admin.get("/audit", since="2026-11-03T17:00:00+09:00")
    recent_events = admin.get("/events", since="2026-11-02T00:00:00Z")

    assert [e["subject_id"] for e in window.json()["items"]] == ["2"]
    assert [e["subject_id"] for e in since_in_tokyo.json()["items"]] == ["3"]
    assert [e["dedup_key"] for e in recent_events.json()["items"]] == ["new"]
