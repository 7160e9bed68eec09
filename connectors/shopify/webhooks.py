"""Shopify webhooks: the HMAC check on the raw body, and splitting a delivery into one event
keyed by ``X-Shopify-Event-Id`` (equal across redeliveries of the same event)."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping
from typing import Any

from connectors.base import MalformedWebhook, WebhookEvent
from connectors.shopify.normalize import parse_time
from core.errors import InvalidSignature
from core.jsonbody import UnusableJson, parse_json

ORDER_TOPICS = frozenset({"orders/create", "orders/updated", "orders/paid", "orders/cancelled"})
CUSTOMER_TOPICS = frozenset({"customers/create", "customers/update"})
PRIVACY_TOPICS = frozenset({"customers/data_request", "customers/redact", "shop/redact"})
TOPICS = ORDER_TOPICS | CUSTOMER_TOPICS | PRIVACY_TOPICS | {"refunds/create", "app/uninstalled"}

# What each topic's body must carry to be usable.
_REQUIRED = {
    **{topic: ("id", "updated_at", "created_at") for topic in ORDER_TOPICS | CUSTOMER_TOPICS},
    "refunds/create": ("id", "order_id"),
    "customers/data_request": ("customer",),
    "customers/redact": ("customer",),
}


def _lower(headers: Mapping[str, str]) -> dict[str, str]:
    return {k.lower(): v for k, v in headers.items()}


def verify(secret: str, headers: Mapping[str, str], body: bytes) -> None:
    """X-Shopify-Hmac-Sha256 must be base64(HMAC-SHA256(client secret, raw body))."""
    provided = _lower(headers).get("x-shopify-hmac-sha256")
    if not provided:
        raise InvalidSignature("missing X-Shopify-Hmac-Sha256 header")
    expected = base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest())
    if not hmac.compare_digest(expected, provided.strip().encode()):
        raise InvalidSignature(
            "X-Shopify-Hmac-Sha256 does not match the body and the app's client secret"
        )


def ids_only(payload: dict[str, Any]) -> dict[str, Any]:
    """A privacy request as the hub keeps it: the ids it names, not the customer's email or
    phone (storing those would keep again what a redaction asks to erase)."""
    customer = payload.get("customer")
    kept: dict[str, Any] = {
        key: payload[key]
        for key in ("shop_id", "shop_domain", "orders_to_redact", "orders_requested")
        if key in payload
    }
    if isinstance(customer, dict):
        kept["customer"] = {"id": customer.get("id")}
    request = payload.get("data_request")
    if isinstance(request, dict):
        kept["data_request"] = {"id": request.get("id")}
    return kept


def parse(headers: Mapping[str, str], body: bytes) -> list[WebhookEvent]:
    """One event per delivery; a signed body that cannot be used raises MalformedWebhook."""
    lowered = _lower(headers)
    topic = lowered.get("x-shopify-topic")
    event_id = lowered.get("x-shopify-event-id")
    if not topic or not event_id:
        raise MalformedWebhook("missing X-Shopify-Topic or X-Shopify-Event-Id header")
    try:
        payload: Any = parse_json(body)
    except UnusableJson as exc:
        raise MalformedWebhook(f"{topic} {exc}") from exc
    if not isinstance(payload, dict):
        raise MalformedWebhook(f"{topic} body is not a JSON object")
    missing = [field for field in _REQUIRED.get(topic, ()) if payload.get(field) in (None, "")]
    if missing:
        raise MalformedWebhook(f"{topic} body lacks {', '.join(missing)}")
    if topic in PRIVACY_TOPICS:
        payload = ids_only(payload)
    shop = lowered.get("x-shopify-shop-domain", "")
    try:
        occurred_at = parse_time(lowered.get("x-shopify-triggered-at"))
    except ValueError:
        occurred_at = None
    return [
        WebhookEvent(
            dedup_key=f"{shop}:{event_id}",
            topic=topic,
            payload=payload,
            occurred_at=occurred_at,
        )
    ]
