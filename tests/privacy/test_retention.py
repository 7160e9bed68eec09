"""Retention: raw events, conversation messages and rendered per-friend sends go once their
window has passed (as the beat job runs it, with the clock moved on); the rest stays."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, update

from config import Settings
from core.clock import utcnow
from core.db import Database
from core.inbox import EventStatus, InboundEvent, IncomingEvent, store_events
from core.tenancy import Shop
from idlink.models import ConversationMessage
from jobs.celery_app import beat_schedule
from messaging.outbox.models import DeliveryContent, ReplyToken
from privacy.retention import PURGED_MESSAGES, RetentionPolicy, purge
from sandbox.line.server import SandboxServer
from staff.models import Role, StaffSession, StaffUser
from tests.console.support import Browser, add_staff
from tests.factories import ChannelSetup
from tests.messaging.support import (
    add_followers,
    fresh_reply_tokens,
    open_all_hours,
    plan,
    plan_audience,
    wait_until_states,
)

POLICY = RetentionPolicy(
    raw_events_days=7, failed_events_days=30, messages_days=365, delivery_payloads_days=90
)


def days(n: float):
    return utcnow() + timedelta(days=n)


def add_events(db: Database, channel: ChannelSetup, statuses: list[str]) -> list[int]:
    with db.session_scope() as session:
        ids = store_events(
            session,
            source="line",
            shop_id=channel.shop_id,
            channel_id=channel.channel_pk,
            events=[
                IncomingEvent(dedup_key=f"retention-{i}", event_type="message", payload={"i": i})
                for i in range(len(statuses))
            ],
        )
        now = utcnow()
        for event_id, status in zip(ids, statuses, strict=True):
            session.execute(
                update(InboundEvent)
                .where(InboundEvent.id == event_id)
                .values(
                    status=status,
                    processed_at=now if status == EventStatus.PROCESSED else None,
                    # Never due: the embedded worker must not process them behind the test.
                    next_attempt_at=days(3650),
                )
            )
    return ids


def remaining_events(db: Database) -> list[str]:
    with db.session_scope() as session:
        return list(session.scalars(select(InboundEvent.status).order_by(InboundEvent.id)))


def run(db: Database, at, policy: RetentionPolicy = POLICY) -> dict[str, int]:
    with db.session_scope() as session:
        return purge(session, policy=policy, now=at)


def test_processed_events_go_after_their_window_failed_ones_later_pending_never(
    db: Database, channel: ChannelSetup
) -> None:
    add_events(db, channel, [EventStatus.PROCESSED, EventStatus.FAILED, EventStatus.PENDING])

    assert run(db, days(6))["inbound_events"] == 0
    assert run(db, days(8))["inbound_events"] == 1
    assert remaining_events(db) == [EventStatus.FAILED, EventStatus.PENDING]
    assert run(db, days(31))["inbound_events"] == 1
    assert run(db, days(3000))["inbound_events"] == 0
    assert remaining_events(db) == [EventStatus.PENDING]


def test_a_window_of_zero_days_keeps_the_data(db: Database, channel: ChannelSetup) -> None:
    add_events(db, channel, [EventStatus.PROCESSED])

    counts = run(db, days(3000), RetentionPolicy(0, 0, 0, 0, media_days=0))

    assert counts == {
        "inbound_events": 0,
        "media": 0,
        "conversation_messages": 0,
        "delivery_contents": 0,
        "reply_tokens": 0,
        "staff_session_addresses": 0,
    }
    assert remaining_events(db) == [EventStatus.PROCESSED]


def test_reply_tokens_go_a_day_after_their_event_whatever_the_windows(
    db: Database, line_sandbox: SandboxServer, channel: ChannelSetup
) -> None:
    friends = add_followers(db, line_sandbox.state, channel, 2)
    fresh_reply_tokens(db, line_sandbox.state, channel, friends)

    assert run(db, days(0.5))["reply_tokens"] == 0
    assert run(db, days(2), RetentionPolicy(0, 0, 0, 0))["reply_tokens"] == 2
    with db.session_scope() as session:
        assert session.scalars(select(ReplyToken)).all() == []


def test_conversation_messages_go_after_a_year(
    db: Database, line_sandbox: SandboxServer, channel: ChannelSetup
) -> None:
    [friend_id] = add_followers(db, line_sandbox.state, channel, 1)
    with db.session_scope() as session:
        session.add(
            ConversationMessage(
                shop_id=channel.shop_id,
                friend_id=friend_id,
                direction="in",
                message_type="text",
                text="明日の予約を変更したいです",
                payload={"type": "text", "text": "明日の予約を変更したいです"},
                occurred_at=utcnow(),
            )
        )

    assert run(db, days(300))["conversation_messages"] == 0
    assert run(db, days(366))["conversation_messages"] == 1


def test_a_personal_sends_text_goes_after_its_window_and_comes_back_when_sent_again(
    db: Database, line_sandbox: SandboxServer, channel: ChannelSetup
) -> None:
    open_all_hours(db, channel)
    friends = list(add_followers(db, line_sandbox.state, channel, 2))
    personal = [{"type": "text", "text": "山田 花子様、ご来店ありがとうございました"}]
    plan(db, channel, friends[:1], source="campaign:7", messages=personal)
    plan_audience(db, channel, source="campaign:8", messages=[{"type": "text", "text": "セール"}])
    wait_until_states(db, {"sent": 1}, source="campaign:7")
    held = [{"type": "text", "text": "山田 花子様、明日10時のご予約です"}]
    plan(db, channel, friends[1:], source="reminder:1", messages=held, due_at=days(200))

    assert run(db, days(30))["delivery_contents"] == 0
    assert run(db, days(91))["delivery_contents"] == 1
    assert payloads(db) == [PURGED_MESSAGES, [{"type": "text", "text": "セール"}], held]

    plan(db, channel, friends[1:], source="campaign:9", messages=personal)
    assert personal in payloads(db)


def payloads(db: Database) -> list:
    with db.session_scope() as session:
        return list(
            session.scalars(select(DeliveryContent.payload).order_by(DeliveryContent.created_at))
        )


def test_a_staff_sessions_address_and_browser_go_once_it_has_ended(
    db: Database, hub_url: str, shop: Shop
) -> None:
    add_staff(db, shop, "kept@example.jp", Role.OPERATOR)
    add_staff(db, shop, "left@example.jp", Role.OPERATOR)
    kept = Browser(hub_url)
    left = Browser(hub_url)
    assert kept.sign_in("kept@example.jp").status_code == 303
    assert left.sign_in("left@example.jp").status_code == 303
    left.submit("/console/account", "/console/logout", {})

    assert run(db, utcnow())["staff_session_addresses"] == 1
    assert addresses(db) == {"kept@example.jp": "127.0.0.1", "left@example.jp": None}
    # Idle past the console's limit (8 hours by default), the open one has ended too.
    assert run(db, utcnow() + timedelta(hours=9))["staff_session_addresses"] == 1
    assert addresses(db) == {"kept@example.jp": None, "left@example.jp": None}


def addresses(db: Database) -> dict[str, str | None]:
    with db.session_scope() as session:
        return {
            email: ip or agent
            for email, ip, agent in session.execute(
                select(StaffUser.email, StaffSession.ip, StaffSession.user_agent).join(
                    StaffUser, StaffUser.id == StaffSession.user_id
                )
            )
        }


def test_the_purge_runs_on_the_beat_schedule() -> None:
    settings = Settings(_env_file=None, retention_interval_seconds=600)

    assert beat_schedule(settings)["privacy.retention"]["schedule"] == 600.0
