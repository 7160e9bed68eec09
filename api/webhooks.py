"""Webhook intake: verify on the raw bytes → store → commit → enqueue → 2xx.

Nothing is processed here: the response goes out as soon as the events are durable, so LINE's
2-second limit holds however slow processing is, and whether or not a worker is running.

The path is kept short (docs/benchmarks). LINE's webhook is a raw ASGI endpoint, served
ahead of FastAPI's routing; the channel's keys come from a short-lived cache, and on PostgreSQL
the events of concurrent requests are stored together by one self-committing INSERT on an async
connection (``core.inbox_writer.InboxWriter``), all on the event loop: no session, no thread
hop, one round trip and one commit per batch.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from fastapi.responses import JSONResponse
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect
from starlette.types import Receive, Scope, Send

from api import nudges
from api.context import AppContext
from api.errors import hub_error_response
from connectors.line.webhook import WebhookBody, signature_is_valid
from core.clock import from_millis
from core.db import AsyncDriverPool, Database
from core.enqueue import enqueue_after_commit
from core.errors import BadRequest, HubError, InvalidSignature, PayloadTooLarge
from core.inbox import IncomingEvent, store_events, store_malformed
from core.inbox_writer import InboxWriter
from core.jsonbody import UnusableJson, parse_json
from core.tenancy import ChannelKeyCache, ChannelKeys, claim_bot_user_id, get_channel_keys

log = logging.getLogger(__name__)


async def read_body(receive: Receive, declared_length: str | None, limit: int) -> bytes:
    """The raw body, refused with 413 once it passes ``limit`` bytes (declared or streamed)."""
    declared = declared_length or ""
    # ASCII digits only: "¹".isdigit() is true and int("¹") raises.
    if declared.isascii() and declared.isdigit() and (len(declared) > 18 or int(declared) > limit):
        raise PayloadTooLarge(f"body of {declared} bytes exceeds the {limit}-byte limit")
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnect
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"body exceeds the {limit}-byte limit")
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


@dataclass(frozen=True, slots=True)
class IntakeResult:
    received: int
    stored: int


LINE_WEBHOOK_PATH = "/webhooks/line/{channel_id}"

# One batch is written at a time; a second connection replaces a broken one without a wait.
INTAKE_CONNECTIONS = 2


class LineWebhookEndpoint:
    """``POST /webhooks/line/{channel_id}``: store a signed LINE webhook's events (deduplicated
    on ``webhookEventId``) and answer 200.

    A raw ASGI app, served ahead of FastAPI's routing (``api.app.DirectRoutes``), with the
    channel keys cache and, on PostgreSQL, the batching writer of its app.
    """

    def __init__(self, ctx: AppContext) -> None:
        self._ctx = ctx
        self._keys = ChannelKeyCache()
        self._writer: InboxWriter | None = None
        self._background: nudges.BackgroundNudges | None = None
        if not ctx.database.is_sqlite:
            on_stored = _batch_nudger(ctx)
            if isinstance(on_stored, nudges.BackgroundNudges):
                self._background = on_stored
                on_stored = on_stored.add
            self._writer = InboxWriter(
                AsyncDriverPool(ctx.database.url, INTAKE_CONNECTIONS), on_stored=on_stored
            )
        self._outcomes = ctx.metrics.webhooks
        self._accepted = ctx.metrics.webhooks.labels("line", "accepted")
        self._stored = ctx.metrics.events_stored.labels("line")

    def close(self) -> None:
        """End the nudges' thread, sending what it still gathered (the app's shutdown)."""
        if self._background is not None:
            self._background.close()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = scope["headers"]
        try:
            body = await read_body(
                receive,
                _header(headers, b"content-length"),
                self._ctx.settings.webhook_max_body_bytes,
            )
            provided = _header(headers, b"x-line-signature")
            if not provided:
                raise InvalidSignature("missing x-line-signature header")
            result = await self._store(scope["path_params"]["channel_id"], body, provided)
        except HubError as exc:
            self._outcomes.labels("line", exc.code).inc()
            await hub_error_response(exc)(scope, receive, send)
            return
        self._accepted.inc()
        self._stored.inc(result.stored)
        response = JSONResponse({"received": result.received, "stored": result.stored})
        await response(scope, receive, send)

    async def _store(self, channel_id: str, body: bytes, provided: str) -> IntakeResult:
        """Verify, parse and store on the event loop; only cache misses (and SQLite) use a
        thread."""
        database = self._ctx.database
        channel = self._keys.get(channel_id)
        if channel is None or not signature_is_valid(channel.channel_secret, body, provided):
            channel = await run_in_threadpool(_reload_channel, database, self._keys, channel_id)
            if not signature_is_valid(channel.channel_secret, body, provided):
                raise InvalidSignature(
                    "x-line-signature does not match the body and channel secret"
                )
        try:
            webhook, raw_events = _parse(body)
        except UnusableBody as exc:
            # Signed by the channel, so LINE (or someone holding its secret) sent it: keep it.
            await run_in_threadpool(_keep_for_review, database, channel, body, str(exc))
            raise BadRequest(f"{exc}; the body is kept for review") from None
        if channel.bot_user_id is None:
            channel = await run_in_threadpool(
                _learn_bot_user_id, database, self._keys, channel, webhook.destination
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
        if self._writer is None:
            new_ids = await run_in_threadpool(_store_in_session, database, channel, incoming)
        else:
            # The writer nudges once per committed batch (see _batch_nudger).
            new_ids = await self._writer.store(
                source="line", shop_id=channel.shop_id, channel_id=channel.id, events=incoming
            )
        return IntakeResult(received=len(incoming), stored=len(new_ids))


# FastAPI documents only the routes it serves: this is the operation it showed for the route.
LINE_WEBHOOK_OPERATION: dict[str, Any] = {
    "tags": ["webhooks"],
    "summary": "LINE Messaging API webhook",
    "description": "Store a signed LINE webhook's events (deduplicated on ``webhookEventId``) "
    "and answer 200.",
    "operationId": "line_webhook_webhooks_line__channel_id__post",
    "parameters": [
        {"name": "channel_id", "in": "path", "required": True, "schema": {"type": "string"}},
        {
            "name": "x-line-signature",
            "in": "header",
            "required": True,
            "schema": {"type": "string"},
        },
    ],
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": {"type": "object"}}},
    },
    "responses": {
        "200": {
            "description": "The events are stored (committed)",
            "content": {
                "application/json": {
                    "schema": {
                        "type": "object",
                        "properties": {
                            "received": {"type": "integer"},
                            "stored": {"type": "integer"},
                        },
                    }
                }
            },
        },
        "400": {"description": "Signed, but not JSON or not a LINE webhook body: kept for review"},
        "401": {"description": "Missing or wrong x-line-signature; nothing stored"},
        "404": {"description": "Unknown channel"},
        "413": {"description": "Body larger than the configured limit"},
    },
}


def _header(headers: list[tuple[bytes, bytes]], name: bytes) -> str | None:
    for key, value in headers:
        if key == name:
            return value.decode("latin-1")
    return None


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
        if new_ids:
            enqueue_after_commit(session, nudges.TASK, event_ids=new_ids)
    return new_ids


def _batch_nudger(
    ctx: AppContext,
) -> Callable[[list[int]], None] | nudges.BackgroundNudges | None:
    """What the writer calls with each committed batch's new ids: no session is left whose
    commit enqueue_after_commit could wait for. Handing a task to the embedded worker only
    queues it, on the loop; a broker publish is network I/O and goes to a thread of its own
    (the ``BackgroundNudges`` returned, whose ``add`` the writer calls)."""
    sender = ctx.database.task_sender
    if sender is None:
        return None
    if ctx.settings.embedded:
        return functools.partial(nudges.nudge, sender)
    return nudges.BackgroundNudges(sender)


class UnusableBody(Exception):
    """A signed body that is not a LINE webhook the hub can store; the message says why."""


def _parse(body: bytes) -> tuple[WebhookBody, list[dict[str, Any]]]:
    """The validated envelope and the events exactly as LINE sent them (for storage)."""
    try:
        data = parse_json(body)
    except UnusableJson as exc:
        raise UnusableBody(str(exc)) from exc
    try:
        webhook = WebhookBody.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()[:5]
        )
        raise UnusableBody(f"not a LINE webhook body: {problems}") from exc
    return webhook, data["events"]


def _keep_for_review(database: Database, channel: ChannelKeys, body: bytes, error: str) -> None:
    with database.session_scope() as session:
        store_malformed(
            session,
            source="line",
            shop_id=channel.shop_id,
            channel_id=channel.id,
            headers={},
            body=body,
            error=error,
        )
    log.warning("unusable LINE webhook for channel %s kept for review: %s", channel.id, error)
