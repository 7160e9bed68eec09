"""Signed Shopify webhooks, as the platform sends them: the REST resource as the body,
``X-Shopify-Hmac-Sha256`` = base64(HMAC-SHA256(app client secret, raw body)) and the other
``X-Shopify-*`` headers. A redelivery keeps the original body and ``X-Shopify-Event-Id``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid
from dataclasses import dataclass
from typing import Any

import httpx

from sandbox.shopify.state import ShopifyState, legacy_id

API_VERSION = "2026-10"

TOPICS = (
    "orders/create",
    "orders/updated",
    "orders/paid",
    "orders/cancelled",
    "customers/create",
    "customers/update",
    "refunds/create",
    "app/uninstalled",
    "customers/data_request",
    "customers/redact",
    "shop/redact",
)


def sign(secret: str, body: bytes) -> str:
    """The X-Shopify-Hmac-Sha256 value for a body."""
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def _amount(money: dict[str, Any]) -> str:
    return str(money["shopMoney"]["amount"])


def rest_customer(node: dict[str, Any]) -> dict[str, Any]:
    """A customer in the REST/webhook shape."""
    email = (node.get("defaultEmailAddress") or {}).get("emailAddress")
    phone = (node.get("defaultPhoneNumber") or {}).get("phoneNumber")
    return {
        "id": legacy_id(node["id"]),
        "admin_graphql_api_id": node["id"],
        "email": email,
        "phone": phone,
        "first_name": node.get("firstName"),
        "last_name": node.get("lastName"),
        "tags": ", ".join(node.get("tags") or []),
        "created_at": node["createdAt"],
        "updated_at": node["updatedAt"],
    }


def rest_order(state: ShopifyState, node: dict[str, Any]) -> dict[str, Any]:
    """An order in the REST/webhook shape."""
    buyer = state.customer_view(node.get("customerId"))
    currency = node["currencyCode"]
    return {
        "id": legacy_id(node["id"]),
        "admin_graphql_api_id": node["id"],
        "name": node["name"],
        "email": node.get("email"),
        "phone": node.get("phone"),
        "customer": rest_customer(buyer) if buyer else None,
        "line_items": [
            {
                "id": legacy_id(item["id"]),
                "product_id": legacy_id(item["product"]["id"]),
                "variant_id": legacy_id(item["variant"]["id"]),
                "sku": item.get("sku"),
                "title": item["title"],
                "quantity": item["quantity"],
                "price": _amount(item["originalUnitPriceSet"]),
            }
            for item in node["lineItems"]
        ],
        "total_price": _amount(node["totalPriceSet"]),
        "currency": currency,
        "discount_codes": [
            {"code": code, "amount": "0.00", "type": "fixed_amount"}
            for code in node["discountCodes"]
        ],
        "financial_status": node["displayFinancialStatus"].lower(),
        "created_at": node["createdAt"],
        "updated_at": node["updatedAt"],
        "cancelled_at": node["cancelledAt"],
        "source_name": "web",
        "note_attributes": [
            {"name": a["key"], "value": a["value"]} for a in node["customAttributes"]
        ],
        "refunds": [
            {
                "id": legacy_id(refund["id"]),
                "created_at": refund["createdAt"],
                "transactions": [{"kind": "refund", "amount": _amount(refund["totalRefundedSet"])}],
            }
            for refund in node["refunds"]
        ],
        "test": node["test"],
    }


@dataclass(frozen=True, slots=True)
class Delivery:
    """One webhook request as sent, for redelivery and for the tests to inspect."""

    topic: str
    event_id: str
    body: bytes
    status: int


class WebhookSender:
    """Sends the store's webhooks to a URL, signed with the store's client secret."""

    def __init__(self, state: ShopifyState, *, timeout: float = 5.0) -> None:
        self.state = state
        self.timeout = timeout
        self.deliveries: list[Delivery] = []

    def order_payload(self, order_id: str) -> dict[str, Any]:
        with self.state.lock:
            return rest_order(self.state, self.state.orders[order_id])

    def customer_payload(self, customer_id: str) -> dict[str, Any]:
        with self.state.lock:
            return rest_customer(self.state.customers[customer_id])

    def refund_payload(self, order_id: str) -> dict[str, Any]:
        """The newest refund of an order, as ``refunds/create`` carries it."""
        order = self.order_payload(order_id)
        refund = order["refunds"][-1]
        return {**refund, "order_id": order["id"], "refund_line_items": []}

    def send(
        self,
        url: str,
        topic: str,
        payload: dict[str, Any] | bytes,
        *,
        event_id: str | None = None,
        secret: str | None = None,
    ) -> httpx.Response:
        """POST one webhook; ``payload`` as bytes is sent verbatim (a malformed body)."""
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        event = event_id or str(uuid.uuid4())
        headers = {
            "Content-Type": "application/json",
            "X-Shopify-Hmac-Sha256": sign(secret or self.state.client_secret, body),
            "X-Shopify-Topic": topic,
            "X-Shopify-Shop-Domain": self.state.shop_domain,
            "X-Shopify-API-Version": API_VERSION,
            "X-Shopify-Webhook-Id": str(uuid.uuid4()),
            "X-Shopify-Event-Id": event,
            "X-Shopify-Triggered-At": self.state.clock().isoformat(),
        }
        response = httpx.post(url, content=body, headers=headers, timeout=self.timeout)
        self.deliveries.append(Delivery(topic, event, body, response.status_code))
        return response

    def redeliver(self, url: str, delivery: Delivery) -> httpx.Response:
        """Send a delivery again exactly as before (same body, same event id)."""
        return self.send(url, delivery.topic, delivery.body, event_id=delivery.event_id)
