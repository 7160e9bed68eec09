"""Webhook intake: verify on the raw bytes → store → commit → enqueue → 2xx.

Nothing is processed here: the response goes out as soon as the events are durable, so LINE's
2-second limit holds however slow processing is, and whether or not a worker is running.

The path is kept short (README, Performance). The channel's keys come from a short-lived cache,
and on PostgreSQL the events of concurrent requests are stored together by one self-committing
INSERT on an async connection (``core.inbox.InboxWriter``), all on the event loop: no session,
no thread hop, one round trip and one commit per batch.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, replace
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from api.context import AppContext, context
from connectors.line.webhook import WebhookBody, signature_is_valid
from core.clock import from_millis
from core.db import AsyncDriverPool, Database
from core.enqueue import enqueue_after_commit
from core.errors import BadRequest, HubError, InvalidSignature, PayloadTooLarge
from core.inbox import InboxWriter, IncomingEvent, store_events
from core.tenancy import ChannelKeyCache, ChannelKeys, claim_bot_user_id, get_channel_keys

log = logging.getLogger(__name__)

router = APIRouter(tags=["webhooks"])


async def read_body(request: Request, limit: int) -> bytes:
    """The raw body, refused with 413 once it passes ``limit`` bytes (declared or streamed)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"body of {declared} bytes exceeds the {limit}-byte limit")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"body exceeds the {limit}-byte limit")
        chunks.append(chunk)
    return b"".join(chunks)


@dataclass(frozen=True, slots=True)
class IntakeResult:
    received: int
    stored: int


# One batch is written at a time; a second connection replaces a broken one without a wait.
INTAKE_CONNECTIONS = 2


@dataclass(frozen=True, slots=True)
class LineIntake:
    """Per-app intake state: the channel keys cache and, on PostgreSQL, the batching writer."""

    keys: ChannelKeyCache
    writer: InboxWriter | None


def line_intake(request: Request) -> LineIntake:
    """The app's intake state, created on its first webhook."""
    state = request.app.state
    intake: LineIntake | None = getattr(state, "line_intake", None)
    if intake is None:
        database = context(request).database
        writer = None
        if not database.is_sqlite:
            writer = InboxWriter(AsyncDriverPool(database.url, INTAKE_CONNECTIONS))
        intake = LineIntake(ChannelKeyCache(), writer)
        state.line_intake = intake
    return intake


@router.post(
    "/webhooks/line/{channel_id}",
    summary="LINE Messaging API webhook",
    responses={
        400: {"description": "Not JSON, or not a LINE webhook body"},
        401: {"description": "Missing or wrong x-line-signature; nothing stored"},
        404: {"description": "Unknown channel"},
        413: {"description": "Body larger than the configured limit"},
    },
)
async def line_webhook(channel_id: str, request: Request) -> JSONResponse:
    """Store a signed LINE webhook's events (deduplicated on ``webhookEventId``) and answer 200."""
    ctx = context(request)
    metrics = ctx.metrics.webhooks
    try:
        body = await read_body(request, ctx.settings.webhook_max_body_bytes)
        provided = request.headers.get("x-line-signature")
        if not provided:
            raise InvalidSignature("missing x-line-signature header")
        result = await _store_line_webhook(ctx, line_intake(request), channel_id, body, provided)
    except HubError as exc:
        metrics.labels("line", exc.code).inc()
        raise
    metrics.labels("line", "accepted").inc()
    ctx.metrics.events_stored.labels("line").inc(result.stored)
    return JSONResponse({"received": result.received, "stored": result.stored})


async def _store_line_webhook(
    ctx: AppContext, intake: LineIntake, channel_id: str, body: bytes, provided: str
) -> IntakeResult:
    """Verify, parse and store on the event loop; only cache misses (and SQLite) use a thread."""
    channel = intake.keys.get(channel_id)
    if channel is None or not signature_is_valid(channel.channel_secret, body, provided):
        channel = await run_in_threadpool(_reload_channel, ctx.database, intake.keys, channel_id)
        if not signature_is_valid(channel.channel_secret, body, provided):
            raise InvalidSignature("x-line-signature does not match the body and channel secret")
    webhook, raw_events = _parse(body)
    if channel.bot_user_id is None:
        channel = await run_in_threadpool(
            _learn_bot_user_id, ctx.database, intake.keys, channel, webhook.destination
        )
    if channel.bot_user_id != webhook.destination:
        raise BadRequest(
            f"destination {webhook.destination} is not this channel's bot "
            f"({channel.bot_user_id}): is the webhook URL set on the right channel?"
        )
    incoming = [
        IncomingEvent(
            dedup_key=event.webhook_event_id,
            event_type=event.type,
            payload=raw,
            occurred_at=from_millis(event.timestamp),
        )
        for event, raw in zip(webhook.events, raw_events, strict=True)
    ]
    if intake.writer is None:
        new_ids = await run_in_threadpool(_store_in_session, ctx.database, channel, incoming)
    else:
        new_ids = await intake.writer.store(
            source="line", shop_id=channel.shop_id, channel_id=channel.id, events=incoming
        )
        # The rows are committed: no session is left whose commit enqueue_after_commit could
        # wait for, so the nudges are sent here. Handing a task to the embedded worker only
        # queues it; a broker publish is network I/O and goes to a thread.
        if ctx.settings.embedded:
            _nudge(ctx.database, new_ids)
        else:
            await run_in_threadpool(_nudge, ctx.database, new_ids)
    return IntakeResult(received=len(incoming), stored=len(new_ids))


def _reload_channel(database: Database, cache: ChannelKeyCache, channel_id: str) -> ChannelKeys:
    """Read the channel's keys from the database (a cache miss, or a signature to re-check
    against the stored secret before refusing it: a secret changed a moment ago counts)."""
    with database.session_scope() as session:
        return cache.put(get_channel_keys(session, channel_id))


def _learn_bot_user_id(
    database: Database, cache: ChannelKeyCache, channel: ChannelKeys, destination: str
) -> ChannelKeys:
    """The channel's first webhook teaches the hub its bot user id."""
    with database.session_scope() as session:
        bot_user_id = claim_bot_user_id(session, channel_id=channel.id, bot_user_id=destination)
    return cache.put(replace(channel, bot_user_id=bot_user_id))


def _store_in_session(
    database: Database, channel: ChannelKeys, incoming: list[IncomingEvent]
) -> list[int]:
    with database.session_scope() as session:
        new_ids = store_events(
            session,
            source="line",
            shop_id=channel.shop_id,
            channel_id=channel.id,
            events=incoming,
        )
        for event_id in new_ids:
            enqueue_after_commit(session, "events.process", event_id=event_id)
    return new_ids


def _nudge(database: Database, event_ids: list[int]) -> None:
    """Ask a worker to process each new, committed event; a lost nudge loses no work (the
    sweeper finds pending rows), so a failure is logged, never raised."""
    if database.task_sender is None:
        return
    for event_id in event_ids:
        try:
            database.task_sender("events.process", {"event_id": event_id})
        except Exception:
            log.warning("could not enqueue an event; the sweeper will process it", exc_info=True)


def _parse(body: bytes) -> tuple[WebhookBody, list[dict[str, Any]]]:
    """The validated envelope and the events exactly as LINE sent them (for storage)."""
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BadRequest(f"body is not JSON: {exc}") from exc
    try:
        webhook = WebhookBody.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()[:5]
        )
        raise BadRequest(f"not a LINE webhook body: {problems}") from exc
    return webhook, data["events"]
