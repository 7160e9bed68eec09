"""Failures LINE (the sandbox) injects: every message ends sent or failed with a reason, once."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import select

from connectors.line.sending import FailureKind, SendFailure
from core.clock import utcnow
from core.db import Database
from core.tenancy import Channel
from messaging.outbox import dispatcher, service
from messaging.outbox.limiter import LocalLimiter
from messaging.outbox.models import DeliveryState
from sandbox.line.server import SandboxServer
from tests.api.admin_support import admin_api
from tests.factories import ChannelSetup
from tests.messaging.support import (
    add_followers,
    attempts,
    deliveries,
    open_all_hours,
    plan,
    received_counts,
    resend_after_a_lost_answer,
    sender_for,
    states,
    wait_until_states,
)
from tests.waiting import wait_for

SENT, FAILED, HELD = DeliveryState.SENT, DeliveryState.FAILED, DeliveryState.HELD


@pytest.fixture
def friends(db: Database, line_sandbox: SandboxServer, channel: ChannelSetup) -> dict[int, str]:
    open_all_hours(db, channel)
    return add_followers(db, line_sandbox.state, channel, 4)


@pytest.fixture
def multicast_limit(line_sandbox: SandboxServer) -> Iterator[None]:
    yield
    line_sandbox.state.set_rate_limit("multicast", 200)


def exactly_once(sandbox: SandboxServer, channel: ChannelSetup, friends: dict[int, str]) -> bool:
    return received_counts(sandbox.state, channel) == dict.fromkeys(friends.values(), 1)


def test_429_bursts_and_5xx_are_retried_with_the_same_key_and_delivered_once(
    db: Database, line_sandbox: SandboxServer, channel: ChannelSetup, friends: dict[int, str]
) -> None:
    line_sandbox.state.inject_failures("multicast", [429, 500, 503, 429])

    plan(db, channel, list(friends))

    wait_until_states(db, {SENT: 4})
    assert exactly_once(line_sandbox, channel, friends)
    tries = attempts(db)
    assert [t.status_code for t in tries] == [429, 500, 503, 429, 200]
    assert len({t.retry_key for t in tries}) == 1
    assert all(d.attempts == 5 for d in deliveries(db))


def test_the_sandbox_rate_limit_is_survived_without_loss(
    db: Database,
    line_sandbox: SandboxServer,
    channel: ChannelSetup,
    multicast_limit: None,
) -> None:
    open_all_hours(db, channel)
    friends = add_followers(db, line_sandbox.state, channel, 1500)
    line_sandbox.state.set_rate_limit("multicast", 2, per_seconds=1.0)

    plan(db, channel, list(friends))

    wait_until_states(db, {SENT: 1500}, timeout=60)
    assert exactly_once(line_sandbox, channel, friends)
    assert 429 in {t.status_code for t in attempts(db)}


def test_a_timeout_is_retried_with_the_same_key(
    db: Database, line_sandbox: SandboxServer, channel: ChannelSetup, friends: dict[int, str]
) -> None:
    later = utcnow() + timedelta(hours=1)
    plan(db, channel, list(friends), due_at=later, now=later)
    silent = socket.create_server(("127.0.0.1", 0))  # accepts connections, never answers
    config = dispatcher.DispatchConfig(
        api_url=f"http://127.0.0.1:{silent.getsockname()[1]}", request_timeout_seconds=0.3
    )
    try:
        (job,) = dispatcher.claim(db, config=config, now=later)
        outcome = dispatcher.send(
            db,
            job,
            config=config,
            limiter=LocalLimiter(),
            senders=dispatcher.SenderPool(config.api_url, 0.3),
        )
    finally:
        silent.close()

    assert outcome == "retried"
    wait_until_states(db, {SENT: 4})
    assert exactly_once(line_sandbox, channel, friends)
    first, second = attempts(db)
    assert (first.outcome, first.status_code, second.status_code) == ("retriable", None, 200)
    assert (
        "unreachable" in (first.error or "") and first.retry_key == second.retry_key == job.batch_id
    )


def test_a_batch_sent_by_a_worker_that_died_before_recording_is_counted_once(
    db: Database, line_sandbox: SandboxServer, channel: ChannelSetup, friends: dict[int, str]
) -> None:
    later = utcnow() + timedelta(hours=1)
    plan(db, channel, list(friends), due_at=later, now=later)
    job = resend_after_a_lost_answer(db, line_sandbox, channel, now=later)

    assert states(db) == {SENT: 4}
    assert exactly_once(line_sandbox, channel, friends)
    (attempt,) = attempts(db)
    assert (attempt.status_code, attempt.retry_key) == (409, job.batch_id)
    assert {d.reason for d in deliveries(db)} == {"already accepted under this retry key"}


def test_a_request_line_refuses_fails_with_lines_reason(
    db: Database, line_sandbox: SandboxServer, channel: ChannelSetup, friends: dict[int, str]
) -> None:
    stranger = add_followers(db, line_sandbox.state, channel, 1)
    (stranger_id, user_id) = next(iter(stranger.items()))
    with line_sandbox.state.lock:
        del line_sandbox.state.users[user_id]  # LINE no longer knows this user

    plan(db, channel, [stranger_id], source="reminder:1")

    wait_until_states(db, {FAILED: 1}, source="reminder:1")
    (failed,) = deliveries(db, "reminder:1")
    reason = failed.reason or ""
    assert "HTTP 400" in reason and "Failed to send messages" in reason
    (attempt,) = attempts(db)
    assert attempt.outcome == "fatal"


def test_a_revoked_token_pauses_the_channel_with_an_alert_and_loses_nothing(
    db: Database,
    line_sandbox: SandboxServer,
    channel: ChannelSetup,
    friends: dict[int, str],
    hub_url: str,
) -> None:
    line_sandbox.state.update_channel(channel.channel_id, access_token="reissued-token")

    plan(db, channel, list(friends))

    wait_for(lambda: channel_status(db, channel) == "paused", what="the channel to pause")
    wait_until_states(db, {DeliveryState.PENDING: 4})
    assert all("access token" in (d.reason or "") for d in deliveries(db))
    with db.session_scope() as session:
        shop = session.get_one(Channel, channel.channel_pk).shop
    alerts = admin_api(db, hub_url, shop).get("/audit", action="channel.paused").json()["items"]
    assert len(alerts) == 1 and "replace the channel's access token" in str(alerts[0])
    assert received_counts(line_sandbox.state, channel) == {}

    with db.session_scope() as session:
        fixed = session.get_one(Channel, channel.channel_pk)
        fixed.access_token = "reissued-token"
        service.resume_channel(session, channel=fixed, actor="cli")

    wait_until_states(db, {SENT: 4})
    assert exactly_once(line_sandbox, channel, friends)


def channel_status(db: Database, channel: ChannelSetup) -> str:
    with db.session_scope() as session:
        return session.scalars(select(Channel.status).where(Channel.id == channel.channel_pk)).one()


def test_a_send_over_the_monthly_quota_is_held_whole_until_released(
    db: Database, line_sandbox: SandboxServer, channel: ChannelSetup, friends: dict[int, str]
) -> None:
    line_sandbox.state.set_monthly_quota(channel.channel_id, 10, usage=7)
    quota = sender_for(line_sandbox, channel)

    result = plan(db, channel, list(friends), quota_sender=quota)

    assert (result.held, result.planned) == (4, 0)
    assert result.hold_reason == ("monthly quota: this send needs 4 messages, 3 remain this month")
    assert states(db) == {HELD: 4}
    line_sandbox.state.set_monthly_quota(channel.channel_id, 20, usage=7)
    with db.session_scope() as session:
        assert service.release_held(session, source="campaign:1", quota_sender=quota).fits
    wait_until_states(db, {SENT: 4})
    assert exactly_once(line_sandbox, channel, friends)


def test_lines_monthly_limit_refusal_holds_the_batch_instead_of_retrying(
    db: Database, line_sandbox: SandboxServer, channel: ChannelSetup, friends: dict[int, str]
) -> None:
    line_sandbox.state.set_monthly_quota(channel.channel_id, 3)

    plan(db, channel, list(friends))

    wait_until_states(db, {HELD: 4})
    assert {d.reason for d in deliveries(db)} == {
        'monthly quota reached: HTTP 429: {"message":"You have reached your monthly limit."}'
    }
    assert received_counts(line_sandbox.state, channel) == {}
    assert len(attempts(db)) == 1


def test_a_late_failure_from_a_worker_that_lost_its_lease_does_not_undo_a_sent_batch(
    db: Database, line_sandbox: SandboxServer, channel: ChannelSetup, friends: dict[int, str]
) -> None:
    later = utcnow() + timedelta(hours=1)
    plan(db, channel, list(friends), due_at=later, now=later)
    config = dispatcher.DispatchConfig(api_url=line_sandbox.url)
    (slow,) = dispatcher.claim(db, config=config, now=later)
    lease_over = later + timedelta(seconds=config.lease_seconds + 1)
    with db.session_scope() as session:
        dispatcher.sweep(session, now=lease_over)
    (taken_over,) = dispatcher.claim(db, config=config, now=lease_over)
    pool = dispatcher.SenderPool(config.api_url, 5.0)
    dispatcher.send(db, taken_over, config=config, limiter=LocalLimiter(), senders=pool)
    timeout = SendFailure(FailureKind.RETRIABLE, "read timed out", status=None, request_id=None)

    with db.session_scope() as session:
        outcome = dispatcher.record(
            session, slow, timeout, config=config, started_at=later, duration_ms=10_000
        )

    assert outcome == "sent"
    assert states(db) == {SENT: 4}
    assert exactly_once(line_sandbox, channel, friends)


def test_a_renewed_lease_keeps_a_long_claim_from_the_sweeper_until_it_is_taken_over(
    db: Database,
    line_sandbox: SandboxServer,
    channel: ChannelSetup,
    friends: dict[int, str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    later = utcnow() + timedelta(hours=1)
    plan(db, channel, list(friends), due_at=later, now=later)
    config = dispatcher.DispatchConfig(api_url=line_sandbox.url)
    lease = timedelta(seconds=config.lease_seconds)
    jobs = dispatcher.claim(db, config=config, now=later)
    renewed_at = later + lease * 0.9

    assert dispatcher.renew(db, jobs, config=config, now=renewed_at) == jobs
    past_first_lease = later + lease + timedelta(seconds=1)
    with db.session_scope() as session:
        dispatcher.sweep(session, now=past_first_lease)
    assert dispatcher.claim(db, config=config, now=past_first_lease) == []

    past_renewal = renewed_at + lease + timedelta(seconds=1)
    with db.session_scope() as session:
        dispatcher.sweep(session, now=past_renewal)
    assert dispatcher.renew(db, jobs, config=config, now=past_renewal) == []
    assert "1 claimed batches were taken over" in caplog.text
    assert [job.batch_id for job in dispatcher.claim(db, config=config, now=past_renewal)] == [
        job.batch_id for job in jobs
    ]


def test_a_message_the_sdk_cannot_build_fails_with_the_reason_instead_of_looping(
    db: Database, line_sandbox: SandboxServer, channel: ChannelSetup, friends: dict[int, str]
) -> None:
    broken = [{"type": "template", "altText": "menu", "template": {"type": "nonsense"}}]

    plan(db, channel, list(friends), messages=broken)

    wait_until_states(db, {FAILED: 4})
    assert all("the SDK refused the request" in (d.reason or "") for d in deliveries(db))
    assert received_counts(line_sandbox.state, channel) == {}


def test_a_run_cut_short_by_its_time_limit_says_so_and_one_that_drained_does_not(
    db: Database, line_sandbox: SandboxServer
) -> None:
    # The task behind ``messaging.dispatch`` enqueues itself again after a cut-short run, so a
    # long backlog does not wait for the next sweep every ``max_run_seconds``.
    limited = dispatcher.DispatchConfig(api_url=line_sandbox.url, threads=2, max_run_seconds=0)
    unlimited = dispatcher.DispatchConfig(api_url=line_sandbox.url, threads=2)

    assert dispatcher.run(db, config=limited, limiter=LocalLimiter()).cut_short
    assert not dispatcher.run(db, config=unlimited, limiter=LocalLimiter()).cut_short


def test_a_runs_threads_share_its_claim_so_a_far_away_line_is_answered_in_parallel(
    db: Database, line_sandbox: SandboxServer, channel: ChannelSetup
) -> None:
    open_all_hours(db, channel)
    friends = add_followers(db, line_sandbox.state, channel, 12)
    line_sandbox.state.set_latency(0.25)
    try:
        started = time.monotonic()
        # Twelve personalised pushes planned together, one claim: 3 s if one thread sent them
        # all, about 0.5 s when the run's 8 threads share the claim.
        plan(db, channel, list(friends), messages=lambda f: [{"type": "text", "text": f"{f}"}])
        wait_until_states(db, {SENT: 12})
        took = time.monotonic() - started
    finally:
        line_sandbox.state.set_latency(0)

    assert exactly_once(line_sandbox, channel, friends)
    assert took < 1.5, f"12 pushes took {took:.2f} s"
