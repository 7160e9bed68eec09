"""Webhook intake for connector sources (Shopify, reservation systems): the same
verify → store → commit → enqueue → 2xx path as LINE's, through each connector's own checks.

A signed body that cannot be used is still stored, with its error, and answered 422: the shop
sees it in the admin API instead of losing it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from api.context import AppContext, context
from api.webhooks import read_body
from commerce.connections import connector_for
from commerce.models import Connection, ConnectionStatus
from connectors.base import MalformedWebhook
from core.clock import utcnow
from core.enqueue import enqueue_after_commit
from core.errors import Gone, HubError, NotFound, Unprocessable
from core.ids import RowId
from core.inbox import IncomingEvent, store_events, store_malformed

log = logging.getLogger(__name__)

router = APIRouter(tags=["webhooks"])

# URL family → connection kinds it accepts.
KINDS = {
    "shopify": frozenset({"shopify"}),
    "reservations": frozenset({"reservations", "calcom"}),
}

_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"description": "Signature missing, wrong or stale; nothing stored"},
    404: {"description": "Unknown connection"},
    410: {"description": "The connection is disabled"},
    413: {"description": "Body larger than the configured limit"},
    422: {"description": "Signed, but not a usable payload: stored with the error"},
}


@dataclass(frozen=True, slots=True)
class Stored:
    received: int
    stored: int


@router.post("/webhooks/shopify/{connection_id}", summary="Shopify webhook", responses=_RESPONSES)
async def shopify_webhook(connection_id: RowId, request: Request) -> JSONResponse:
    """Verify X-Shopify-Hmac-Sha256, store by X-Shopify-Event-Id, answer 200."""
    return await _intake("shopify", connection_id, request)


@router.post(
    "/webhooks/reservations/{connection_id}",
    summary="Reservation system webhook (reservation.v1 or Cal.com)",
    responses=_RESPONSES,
)
async def reservations_webhook(connection_id: RowId, request: Request) -> JSONResponse:
    """Verify the reservation system's signature, store by event id, answer 200."""
    return await _intake("reservations", connection_id, request)


async def _intake(family: str, connection_id: int, request: Request) -> JSONResponse:
    ctx = context(request)
    metrics = ctx.metrics.webhooks
    try:
        body = await read_body(
            request.receive,
            request.headers.get("content-length"),
            ctx.settings.webhook_max_body_bytes,
        )
        headers = {k.lower(): v for k, v in request.headers.items()}
        result = await run_in_threadpool(_store, ctx, family, connection_id, headers, body)
    except HubError as exc:
        metrics.labels(family, exc.code).inc()
        raise
    metrics.labels(family, "accepted").inc()
    ctx.metrics.events_stored.labels(family).inc(result.stored)
    return JSONResponse({"received": result.received, "stored": result.stored})


def _store(
    ctx: AppContext, family: str, connection_id: int, headers: dict[str, str], body: bytes
) -> Stored:
    with ctx.database.session_scope() as session:
        connection = session.get(Connection, connection_id)
        if connection is None or connection.kind not in KINDS[family]:
            raise NotFound(f"no {family} connection {connection_id}")
        if connection.status == ConnectionStatus.DISABLED:
            raise Gone(f"connection {connection.name!r} is disabled")
        connector = connector_for(connection)
        connector.verify_webhook(headers, body, now=utcnow())
        try:
            events = connector.parse_webhook(headers, body)
        except MalformedWebhook as exc:
            store_malformed(
                session,
                source=connection.kind,
                shop_id=connection.shop_id,
                connection_id=connection.id,
                headers=_safe_headers(headers),
                body=body,
                error=str(exc),
            )
            log.warning(
                "malformed %s webhook for connection %s: %s", connection.kind, connection.id, exc
            )
        else:
            incoming = [
                IncomingEvent(
                    dedup_key=e.dedup_key,
                    event_type=e.topic,
                    payload=e.payload,
                    occurred_at=e.occurred_at,
                )
                for e in events
            ]
            new_ids = store_events(
                session,
                source=connection.kind,
                shop_id=connection.shop_id,
                connection_id=connection.id,
                events=incoming,
            )
            if new_ids:
                enqueue_after_commit(session, "events.process_batch", event_ids=new_ids)
            return Stored(received=len(incoming), stored=len(new_ids))
    # Committed above (the stored malformed event); now tell the sender what was wrong.
    raise Unprocessable(f"signed {family} webhook could not be used: stored for review")


def _safe_headers(headers: dict[str, str]) -> dict[str, str]:
    """Headers worth keeping for diagnosis; signatures and credentials are left out."""
    return {
        k: v
        for k, v in headers.items()
        if k.startswith(("x-shopify-topic", "x-shopify-event", "x-tsunagu-event", "content-"))
    }
