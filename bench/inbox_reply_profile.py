"""Where a message's time goes in ``bench.inbox_replies``: stored events processed and their
answers sent in this process under ``cProfile`` (CPU time), with no hub process running, and
the SQL statements each message costs (each a round trip to PostgreSQL).

The events are stored with ``core.inbox.store_events`` (what the webhook intake calls), each a
friend's text with a reply token the sandbox issued; then, profiled separately, the worker's
handling (``core.inbox.process_event`` with the worker's handler: friend, conversation, signal,
rule matching, the answer planned in the outbox) and the dispatcher's sending of the answers
(``messaging.outbox.dispatcher.run``, as the ``messaging.dispatch`` task runs it).
"""

from __future__ import annotations

import cProfile
import pstats
import time
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import event, select

from bench import profiles
from bench.fanout import CHANNEL_ID, open_bench_database
from bench.fanout import user_id as friend
from bench.inbox_reply_figures import Step

# The hub's own packages on this path, besides those ``bench.profiles`` names.
PARTS = (
    ("autoreply/", "hub: autoreply (matching, actions)"),
    ("inbox/", "hub: inbox (conversation, signal)"),
    ("idlink/", "hub: idlink (friend, message)"),
    ("messaging/", "hub: messaging (outbox, guardrails, sequences)"),
    ("growth/", "hub: growth (follow routes)"),
    ("jobs/", "hub: jobs"),
    ("core/", "hub: core (events, db)"),
)


def store(database: Any, step: Step, texts: tuple[str, ...], tokens: list[str]) -> list[int]:
    """Store one message event per friend of ``step`` as the intake does; their ids."""
    from core.inbox import IncomingEvent, store_events
    from core.tenancy import Channel

    now_ms = int(time.time() * 1000)
    events = [
        IncomingEvent(
            dedup_key=f"PROFILE{n:019d}",
            event_type="message",
            payload={
                "type": "message",
                "mode": "active",
                "timestamp": now_ms,
                "webhookEventId": f"PROFILE{n:019d}",
                "deliveryContext": {"isRedelivery": False},
                "source": {"type": "user", "userId": friend(step.first + n)},
                "replyToken": tokens[n],
                "message": {"type": "text", "id": str(10**15 + n), "text": texts[n % len(texts)]},
            },
            occurred_at=datetime.fromtimestamp(now_ms / 1000, UTC),
        )
        for n in range(step.count)
    ]
    with database.session_scope() as session:
        found = select(Channel).where(Channel.line_channel_id == CHANNEL_ID)
        channel = session.scalars(found).one()
        return store_events(
            session, source="line", shop_id=channel.shop_id, channel_id=channel.id, events=events
        )


def profile(
    database_url: str, step: Step, texts: tuple[str, ...], tokens: list[str], api_url: str
) -> dict[str, Any]:
    """Process ``step.count`` stored messages, then send their answers, each under cProfile."""
    from core import inbox
    from jobs.tasks import _handler_for, dispatch_config
    from messaging.outbox import dispatcher
    from messaging.outbox.limiter import LocalLimiter

    database = open_bench_database(database_url, name="inbox_reply_profile")
    settings = database_settings(database_url, api_url)
    ids = store(database, step, texts, tokens)
    handler = _handler_for(settings)
    statements = [0]

    def count(*_: Any) -> None:
        statements[0] += 1

    event.listen(database.engine, "before_cursor_execute", count)
    processing = cProfile.Profile(time.process_time)
    started = time.perf_counter()
    for event_id in ids:
        with database.session_scope() as session:
            processing.runcall(inbox.process_event, session, event_id, handler, max_attempts=5)
    processing_seconds, processing_statements = time.perf_counter() - started, statements[0]
    sending = cProfile.Profile(time.process_time)
    started = time.perf_counter()
    sending.runcall(
        dispatcher.run, database, config=dispatch_config(settings), limiter=LocalLimiter()
    )
    sending_seconds = time.perf_counter() - started
    database.dispose()
    per = len(ids)
    return {
        "messages": per,
        "processing_wall_ms_per_message": round(1000 * processing_seconds / per, 2),
        "processing_statements_per_message": round(processing_statements / per, 1),
        "sending_wall_ms_per_message": round(1000 * sending_seconds / per, 2),
        "sending_statements_per_message": round((statements[0] - processing_statements) / per, 1),
        "processing": _summary(processing, per),
        "sending": _summary(sending, per),
    }


def database_settings(database_url: str, api_url: str) -> Any:
    from bench.fanout import SECRET_KEY
    from config import Settings

    return Settings(
        _env_file=None,
        database_url=database_url,
        secret_key=SECRET_KEY,
        line_api_url=api_url,
        line_access_url=api_url,
    )


def _summary(profile: cProfile.Profile, messages: int) -> dict[str, Any]:
    stats = pstats.Stats(profile)
    return profiles.summarise(stats, messages, top=12, parts=PARTS, per="message")
