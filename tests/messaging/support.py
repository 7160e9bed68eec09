"""Helpers for the delivery tests: friends in the hub and the sandbox, planning, reading back."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, insert, select

from connectors.line.client import ChannelCredentials
from connectors.line.sending import LineSender
from core.clock import utcnow
from core.db import Database
from core.tenancy import Channel
from idlink.models import Friend, FriendStatus
from messaging.outbox import dispatcher, guardrails, service
from messaging.outbox.limiter import LocalLimiter
from messaging.outbox.models import Delivery, DeliveryAttempt, ReplyToken
from messaging.outbox.service import AudienceResult, PlanResult
from sandbox.line.server import SandboxServer
from sandbox.line.state import SandboxState
from tests.factories import ChannelSetup
from tests.waiting import wait_for

TEXT = [{"type": "text", "text": "ご来店ありがとうございました"}]


def add_followers(
    database: Database, sandbox: SandboxState, channel: ChannelSetup, count: int
) -> dict[int, str]:
    """``count`` sandbox users following the channel, known to the hub: friend id → user id."""
    user_ids = []
    with sandbox.lock:
        line_channel = sandbox.channel(channel.channel_id)
        now = sandbox.clock()
        for _ in range(count):
            user = sandbox.add_user(display_name="friend")
            friendship = line_channel.friendship(user.user_id)
            friendship.following, friendship.followed_at = True, now
            user_ids.append(user.user_id)
    rows = [
        {
            "shop_id": channel.shop_id,
            "channel_id": channel.channel_pk,
            "line_user_id": user_id,
            "status": FriendStatus.FOLLOWED,
            "created_at": utcnow(),
        }
        for user_id in user_ids
    ]
    with database.session_scope() as session:
        for start in range(0, len(rows), 5000):
            session.execute(insert(Friend), rows[start : start + 5000])
        found = session.execute(
            select(Friend.id, Friend.line_user_id).where(Friend.channel_id == channel.channel_pk)
        )
        by_user = {user_id: friend_id for friend_id, user_id in found}
    return {by_user[u]: u for u in user_ids}


def fresh_reply_tokens(
    database: Database, sandbox: SandboxState, channel: ChannelSetup, friends: dict[int, str]
) -> None:
    """Each friend just wrote to the shop: LINE issued a reply token, and the hub kept it."""
    now = utcnow()
    rows = [
        {
            "token": sandbox.issue_reply_token(channel.channel_id, user_id),
            "channel_id": channel.channel_pk,
            "friend_id": friend_id,
            "issued_at": now,
        }
        for friend_id, user_id in friends.items()
    ]
    with database.session_scope() as session:
        for start in range(0, len(rows), 5000):
            session.execute(insert(ReplyToken), rows[start : start + 5000])


def open_all_hours(database: Database, channel: ChannelSetup) -> None:
    """No quiet hours and no caps for the shop: tests run at any time of day."""
    with database.session_scope() as session:
        guardrails.set_policy(session, shop_id=channel.shop_id, quiet_hours=None)


def sender_for(sandbox: SandboxServer, channel: ChannelSetup) -> LineSender:
    return LineSender(ChannelCredentials(access_token=channel.access_token, api_url=sandbox.url))


def plan(
    database: Database,
    channel: ChannelSetup,
    friend_ids: list[int],
    *,
    source: str = "campaign:1",
    messages: Any = TEXT,
    due_at: datetime | None = None,
    now: datetime | None = None,
    quota_sender: LineSender | None = None,
    respect_quiet_hours: bool = True,
) -> PlanResult:
    """Plan one send in its own transaction, keyed ``{source}:{friend}``."""
    with database.session_scope() as session:
        return service.plan(
            session,
            channel=session.get_one(Channel, channel.channel_pk),
            recipients=friend_ids,
            messages=messages,
            idempotency_key_for=lambda friend_id: f"{source}:{friend_id}",
            due_at=due_at or utcnow(),
            source=source,
            quota_sender=quota_sender,
            respect_quiet_hours=respect_quiet_hours,
            now=now,
        )


def plan_audience(
    database: Database,
    channel: ChannelSetup,
    *,
    source: str = "campaign:1",
    key: str | None = None,
    messages: Any = TEXT,
    due_at: datetime | None = None,
    now: datetime | None = None,
    quota_sender: LineSender | None = None,
    respect_quiet_hours: bool = True,
) -> AudienceResult:
    """Freeze the channel's friends as one audience send in its own transaction."""
    with database.session_scope() as session:
        return service.plan_audience(
            session,
            channel=session.get_one(Channel, channel.channel_pk),
            audience=select(Friend.id).where(Friend.channel_id == channel.channel_pk),
            messages=messages,
            idempotency_key=key or f"{source}:run-1",
            source=source,
            due_at=due_at or utcnow(),
            quota_sender=quota_sender,
            respect_quiet_hours=respect_quiet_hours,
            now=now,
        )


def states(database: Database, source: str = "campaign:1") -> dict[str, int]:
    with database.session_scope() as session:
        return service.counts_by_state(session, source=source)


def wait_until_states(
    database: Database, expected: dict[str, int], *, source: str = "campaign:1", timeout=30.0
) -> None:
    wait_for(
        lambda: states(database, source) == expected,
        timeout=timeout,
        what=f"deliveries of {source} to be {expected} (last: {states(database, source)})",
    )


def deliveries(database: Database, source: str = "campaign:1") -> list[Delivery]:
    with database.session_scope() as session:
        return list(
            session.scalars(select(Delivery).where(Delivery.source == source).order_by(Delivery.id))
        )


def attempts(database: Database) -> list[DeliveryAttempt]:
    with database.session_scope() as session:
        return list(session.scalars(select(DeliveryAttempt).order_by(DeliveryAttempt.id)))


def received_counts(sandbox: SandboxState, channel: ChannelSetup) -> Counter[str]:
    """How many message objects each user of the channel received."""
    with sandbox.lock:
        return Counter(m.user_id for m in sandbox.received if m.channel_id == channel.channel_id)


def api_calls(sandbox: SandboxServer, channel: ChannelSetup, path: str) -> list[Any]:
    """The channel's calls of one API path (the sandbox serves every test of the session)."""
    auth = f"Bearer {channel.access_token}"
    return [
        c
        for c in sandbox.state.api_calls()
        if c.path == path and c.request_headers.get("authorization") == auth
    ]


def count_rows(database: Database, model: Any) -> int:
    with database.session_scope() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def resend_after_a_lost_answer(
    database: Database, sandbox: SandboxServer, channel: ChannelSetup, *, now: datetime
) -> dispatcher.BatchJob:
    """The due batch reaches LINE but its worker dies before recording the answer; the sweeper
    and a new claim resend it with its key. Returns the first claim's job."""
    config = dispatcher.DispatchConfig(api_url=sandbox.url)
    (job,) = dispatcher.claim(database, config=config, now=now)
    sender_for(sandbox, channel).multicast(job.user_ids, job.messages, retry_key=job.batch_id)
    lease_over = now + timedelta(seconds=config.lease_seconds + 1)
    with database.session_scope() as session:
        assert dispatcher.sweep(session, now=lease_over) == 1
    (again,) = dispatcher.claim(database, config=config, now=lease_over)
    assert (again.batch_id, again.user_ids) == (job.batch_id, job.user_ids)
    dispatcher.send(
        database,
        again,
        config=config,
        limiter=LocalLimiter(),
        senders=dispatcher.SenderPool(config.api_url, 5.0),
    )
    return job
