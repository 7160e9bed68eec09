"""Webhook events as LINE sends them: built, signed with the channel secret, and POSTed."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import ssl
from functools import cache
from typing import Any

import httpx

from sandbox.line import ids
from sandbox.line.models import SandboxChannel, WebhookDelivery

SIGNATURE_HEADER = "x-line-signature"
USER_AGENT = "LineBotWebhook/2.0"


def sign(channel_secret: str, body: bytes) -> str:
    """Return ``x-line-signature``: base64(HMAC-SHA256(channel secret, raw body))."""
    digest = hmac.new(channel_secret.encode(), body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def base_event(
    event_type: str, channel: SandboxChannel, user_id: str, timestamp_ms: int
) -> dict[str, Any]:
    """Return the fields every user event carries (type, source, ids, mode, delivery context)."""
    return {
        "type": event_type,
        "timestamp": timestamp_ms,
        "mode": channel.mode,
        "webhookEventId": ids.new_ulid(timestamp_ms),
        "source": {"type": "user", "userId": user_id},
        "deliveryContext": {"isRedelivery": False},
    }


def encode_body(channel: SandboxChannel, events: list[dict[str, Any]]) -> bytes:
    """Serialise the webhook body ``{"destination", "events"}`` as LINE does (compact JSON)."""
    payload = {"destination": channel.bot_user_id, "events": events}
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()


def post(
    channel: SandboxChannel,
    body: bytes,
    *,
    now: float,
    timeout: float,
    url: str | None = None,
) -> WebhookDelivery:
    """POST a signed body to ``url`` (default: the channel's webhook URL); note the answer."""
    signature = sign(channel.channel_secret, body)
    url = url or channel.webhook_url
    delivery = WebhookDelivery(
        channel_id=channel.channel_id,
        url=url,
        body=body,
        signature=signature,
        sent_at=now,
    )
    if not url:
        delivery.error = "no webhook URL set for the channel"
        return delivery
    headers = {
        "content-type": "application/json; charset=utf-8",
        SIGNATURE_HEADER: signature,
        "user-agent": USER_AGENT,
    }
    try:
        response = httpx.post(
            url,
            content=body,
            headers=headers,
            timeout=timeout,
            verify=_tls_context(),
        )
    except httpx.HTTPError as exc:
        delivery.error = f"{type(exc).__name__}: {exc}"
        return delivery
    delivery.status_code = response.status_code
    delivery.response_body = response.text
    return delivery


@cache
def _tls_context() -> ssl.SSLContext:
    """One TLS context for every delivery: building one loads the CA bundle (~0.1 s)."""
    return ssl.create_default_context()
