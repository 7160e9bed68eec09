"""Webhook intake: verify on the raw bytes → store → commit → enqueue → 2xx.

Nothing is processed here: the response goes out as soon as the events are durable, so LINE's
2-second limit holds however slow processing is, and whether or not a worker is running.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from api.context import AppContext, context
from connectors.line.webhook import WebhookBody, signature_is_valid
from core.clock import from_millis
from core.enqueue import enqueue_after_commit
from core.errors import BadRequest, HubError, InvalidSignature, PayloadTooLarge
from core.inbox import IncomingEvent, store_events
from core.tenancy import get_channel

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
        result = await run_in_threadpool(_store_line_webhook, ctx, channel_id, body, provided)
    except HubError as exc:
        metrics.labels("line", exc.code).inc()
        raise
    metrics.labels("line", "accepted").inc()
    ctx.metrics.events_stored.labels("line").inc(result.stored)
    return JSONResponse({"received": result.received, "stored": result.stored})


def _store_line_webhook(
    ctx: AppContext, channel_id: str, body: bytes, provided: str
) -> IntakeResult:
    with ctx.database.session_scope() as session:
        channel = get_channel(session, channel_id)
        if not signature_is_valid(channel.channel_secret, body, provided):
            raise InvalidSignature("x-line-signature does not match the body and channel secret")
        webhook, raw_events = _parse(body)
        if channel.bot_user_id is None:
            channel.bot_user_id = webhook.destination
        elif channel.bot_user_id != webhook.destination:
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
        new_ids = store_events(
            session,
            source="line",
            shop_id=channel.shop_id,
            channel_id=channel.id,
            events=incoming,
        )
        for event_id in new_ids:
            enqueue_after_commit(session, "events.process", event_id=event_id)
    return IntakeResult(received=len(incoming), stored=len(new_ids))


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
