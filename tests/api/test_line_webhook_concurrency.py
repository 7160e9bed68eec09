"""Concurrent LINE webhooks: each answered only once its events are stored, each event once.

On PostgreSQL the events of concurrent requests are written together in batches
(``core.inbox_writer.InboxWriter``); on SQLite each request has its own transaction. Both must look
the same from outside.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import httpx
from sqlalchemy import select

from connectors.line.webhook import signature
from core.db import AsyncDriverPool, Database
from core.inbox import InboundEvent, IncomingEvent
from core.inbox_writer import InboxWriter
from tests.conftest import skip_or_fail
from tests.factories import ChannelSetup


def _body(channel: ChannelSetup, event_id: str) -> bytes:
    event = {
        "type": "message",
        "mode": "active",
        "timestamp": int(time.time() * 1000),
        "webhookEventId": event_id,
        "source": {"type": "user", "userId": "U" + secrets.token_hex(16)},
        "deliveryContext": {"isRedelivery": False},
        "replyToken": secrets.token_hex(16),
        "message": {"type": "text", "id": "1", "text": "hello"},
    }
    return json.dumps({"destination": channel.bot_user_id, "events": [event]}).encode()


def _post(channel: ChannelSetup, body: bytes) -> httpx.Response:
    headers = {"x-line-signature": signature(channel.channel_secret, body)}
    return httpx.post(channel.webhook_url, content=body, headers=headers, timeout=30)


def test_concurrent_webhooks_each_store_their_event_once_before_200(
    db: Database, channel: ChannelSetup
) -> None:
    event_ids = [f"01CONCURRENT{n:014d}" for n in range(48)]
    bodies = [_body(channel, e) for e in event_ids]
    # The first twelve are sent twice at once, as LINE's redelivery racing the original would.
    with ThreadPoolExecutor(max_workers=32) as pool:
        responses = list(pool.map(lambda b: _post(channel, b), bodies + bodies[:12]))

    assert [r.status_code for r in responses] == [200] * 60
    assert sum(r.json()["stored"] for r in responses) == 48
    with db.session_scope() as session:
        stored = session.scalars(
            select(InboundEvent.dedup_key).where(InboundEvent.channel_id == channel.channel_pk)
        ).all()
    assert sorted(stored) == event_ids


def test_a_webhook_that_cannot_be_stored_does_not_refuse_the_others_in_its_batch(
    db: Database, channel: ChannelSetup
) -> None:
    if db.is_sqlite:
        skip_or_fail("batched intake runs on PostgreSQL (TSUNAGU_TEST_DATABASE_URL)")
    prefix = secrets.token_hex(4)

    def event(key: str) -> list[IncomingEvent]:
        return [IncomingEvent(dedup_key=prefix + key, event_type="message", payload={})]

    async def store_together() -> tuple[list[int] | BaseException, ...]:
        writer = InboxWriter(AsyncDriverPool(db.url, 2))
        return await asyncio.gather(
            writer.store(source="line", shop_id=channel.shop_id, events=event("a")),
            writer.store(source="line", shop_id=-1, events=event("unknown-shop")),
            writer.store(source="line", shop_id=channel.shop_id, events=event("b")),
            return_exceptions=True,
        )

    first, refused, last = asyncio.run(store_together())

    assert isinstance(refused, Exception)
    assert isinstance(first, list) and len(first) == 1
    assert isinstance(last, list) and len(last) == 1
    with db.session_scope() as session:
        stored = session.scalars(
            select(InboundEvent.dedup_key).where(InboundEvent.dedup_key.like(f"{prefix}%"))
        ).all()
    assert sorted(stored) == [prefix + "a", prefix + "b"]


def test_a_batch_stores_each_event_with_its_payload_and_times_as_given(
    db: Database, channel: ChannelSetup
) -> None:
    if db.is_sqlite:
        skip_or_fail("batched intake runs on PostgreSQL (TSUNAGU_TEST_DATABASE_URL)")
    key = secrets.token_hex(8)
    payload = {"text": '明日の予約を17時に "変更"\\', "nested": [1, None, {"ok": True}]}
    occurred = datetime(2026, 3, 1, 9, 30, 15, 123000, tzinfo=UTC)
    now = datetime(2026, 3, 1, 9, 30, 16, 456789, tzinfo=UTC)
    incoming = IncomingEvent(
        dedup_key=key, event_type="message", payload=payload, occurred_at=occurred
    )

    async def store() -> list[int]:
        writer = InboxWriter(AsyncDriverPool(db.url, 1))
        return await writer.store(
            source="line", shop_id=channel.shop_id, events=[incoming], now=now
        )

    (new_id,) = asyncio.run(store())

    with db.session_scope() as session:
        stored = session.get_one(InboundEvent, new_id)
        assert (stored.dedup_key, stored.event_type, stored.payload) == (key, "message", payload)
        assert (stored.occurred_at, stored.received_at) == (occurred, now)
        assert (stored.channel_id, stored.connection_id) == (None, None)
        assert (stored.status, stored.attempts, stored.next_attempt_at) == ("pending", 0, now)


def test_concurrent_webhooks_are_nudged_once_per_stored_batch_each_event_once(
    db: Database, channel: ChannelSetup
) -> None:
    if db.is_sqlite:
        skip_or_fail("batched intake runs on PostgreSQL (TSUNAGU_TEST_DATABASE_URL)")
    prefix = secrets.token_hex(4)
    batches: list[list[int]] = []

    async def store_together() -> list[list[int]]:
        writer = InboxWriter(AsyncDriverPool(db.url, 1), on_stored=batches.append)
        stores = [
            writer.store(
                source="line",
                shop_id=channel.shop_id,
                events=[IncomingEvent(dedup_key=f"{prefix}{n % 40}", event_type="x", payload={})],
            )
            for n in range(60)  # the last 20 repeat earlier events: stored and nudged once
        ]
        return await asyncio.gather(*stores)

    stored = asyncio.run(store_together())

    new_ids = sorted(i for ids in stored for i in ids)
    assert len(new_ids) == 40
    assert sorted(i for batch in batches for i in batch) == new_ids
    assert len(batches) < 40, "a nudge per event, not per batch"
