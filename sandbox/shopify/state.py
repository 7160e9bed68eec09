"""In-memory state of the sandbox Shopify store: customers, orders, the query-cost bucket,
bulk operations and injected failures, behind one lock shared by the app and Python callers.

Orders and customers are kept in the GraphQL Admin API's shape (``gid://shopify/…`` ids,
camelCase fields), which is what the app answers with; webhooks convert to the REST shape.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from sandbox.shopify.discounts import DiscountStore

DEFAULT_BUCKET_SIZE = 1000.0
DEFAULT_RESTORE_RATE = 100.0


def gid(kind: str, number: int | str) -> str:
    """A GraphQL global id, e.g. ``gid://shopify/Order/1001``."""
    return f"gid://shopify/{kind}/{number}"


def legacy_id(global_id: str) -> int:
    """The numeric id at the end of a global id."""
    return int(global_id.rsplit("/", 1)[1])


def iso(value: datetime) -> str:
    """Shopify's timestamp format: UTC with a ``Z``, second precision."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def money(amount: Decimal | int | str, currency: str) -> dict[str, Any]:
    return {"shopMoney": {"amount": f"{Decimal(amount):.2f}", "currencyCode": currency}}


@dataclass
class LeakyBucket:
    """The calculated-cost limiter: ``size`` points, ``restore_rate`` restored per second."""

    size: float = DEFAULT_BUCKET_SIZE
    restore_rate: float = DEFAULT_RESTORE_RATE
    available: float = DEFAULT_BUCKET_SIZE
    updated: float = field(default_factory=time.monotonic)

    def refill(self, now: float) -> None:
        self.available = min(self.size, self.available + (now - self.updated) * self.restore_rate)
        self.updated = now

    def status(self) -> dict[str, float]:
        return {
            "maximumAvailable": self.size,
            "currentlyAvailable": round(self.available, 1),
            "restoreRate": self.restore_rate,
        }


@dataclass
class BulkOperation:
    id: str
    query: str
    status: str
    created_at: str
    path: Path | None = None
    object_count: int = 0
    polls_left: int = 1
    completed_at: str | None = None


@dataclass
class Failure:
    """Requests answered with ``status`` instead of being served (fault injection)."""

    status: int
    remaining: int | None
    after: int = 0


class ShopifyState:
    """One sandbox store: its data, its access token and webhook secret, its limits."""

    def __init__(
        self,
        *,
        shop_domain: str = "tsunagu-sandbox.myshopify.com",
        access_token: str | None = None,
        client_secret: str | None = None,
        bucket_size: float = DEFAULT_BUCKET_SIZE,
        restore_rate: float = DEFAULT_RESTORE_RATE,
        bulk_dir: Path | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.lock = threading.RLock()
        self.clock = clock
        self.shop_domain = shop_domain
        self.access_token = access_token or f"shpat_{secrets.token_hex(16)}"
        self.client_secret = client_secret or secrets.token_hex(16)
        self.bucket = LeakyBucket(size=bucket_size, restore_rate=restore_rate)
        self.bucket.available = bucket_size
        self.customers: dict[str, dict[str, Any]] = {}
        self.orders: dict[str, dict[str, Any]] = {}
        self.collections: dict[str, dict[str, Any]] = {}
        # One product per title, numbered as first seen.
        self.products: dict[str, int] = {}
        self.bulk_operations: dict[str, BulkOperation] = {}
        self.discounts = DiscountStore()
        self.bulk_dir = bulk_dir
        # Where the app is reachable (bulk result URLs point there); set by the server.
        self.public_url = "http://127.0.0.1"
        self.bulk_file: tuple[Path, int] | None = None
        self.bulk_polls_before_complete = 1
        self.failure: Failure | None = None
        self.forced_throttles = 0
        self.requests: list[dict[str, Any]] = []
        self.unauthorized = 0
        self._next_id = 1000

    # ---- data -------------------------------------------------------------------------------

    def new_number(self) -> int:
        self._next_id += 1
        return self._next_id

    def add_customer(
        self,
        *,
        email: str | None = None,
        phone: str | None = None,
        first_name: str = "Hanako",
        last_name: str = "Yamada",
        tags: list[str] | None = None,
        metafields: dict[str, str] | None = None,
        updated_at: datetime | None = None,
    ) -> dict[str, Any]:
        """Create a customer; ``metafields`` maps ``"namespace.key"`` to its value."""
        with self.lock:
            now = updated_at or self.clock()
            number = self.new_number()
            customer: dict[str, Any] = {
                "id": gid("Customer", number),
                "legacyResourceId": str(number),
                "firstName": first_name,
                "lastName": last_name,
                "defaultEmailAddress": {"emailAddress": email} if email else None,
                "defaultPhoneNumber": {"phoneNumber": phone} if phone else None,
                "tags": list(tags or []),
                "metafields": dict(metafields or {}),
                "numberOfOrders": "0",
                "amountSpent": {"amount": "0.00", "currencyCode": "JPY"},
                "createdAt": iso(now),
                "updatedAt": iso(now),
            }
            self.customers[customer["id"]] = customer
            return customer

    def update_customer(
        self, customer_id: str, *, updated_at: datetime | None = None, **changes: Any
    ) -> dict[str, Any]:
        with self.lock:
            customer = self.customers[customer_id]
            customer.update(changes)
            customer["updatedAt"] = iso(updated_at or self.clock())
            return customer

    def add_order(
        self,
        *,
        customer_id: str | None = None,
        email: str | None = None,
        phone: str | None = None,
        items: list[tuple[str, int, str]] | None = None,
        currency: str = "JPY",
        discount_codes: list[str] | None = None,
        note_attributes: dict[str, str] | None = None,
        created_at: datetime | None = None,
        updated_at: datetime | None = None,
    ) -> dict[str, Any]:
        """Create an order; ``items`` are ``(title, quantity, unit price)``."""
        with self.lock:
            created = created_at or self.clock()
            number = self.new_number()
            lines = items or [("Matcha latte", 1, "680")]
            line_items = [
                {
                    "id": gid("LineItem", number * 100 + index),
                    "title": title,
                    "quantity": quantity,
                    "sku": f"SKU-{abs(hash(title)) % 10000:04d}",
                    "originalUnitPriceSet": money(price, currency),
                    "product": {"id": self.product_id(title)},
                    "variant": {"id": gid("ProductVariant", self.products[title])},
                }
                for index, (title, quantity, price) in enumerate(lines, start=1)
            ]
            total = sum((Decimal(p) * q for _, q, p in lines), Decimal(0))
            order: dict[str, Any] = {
                "id": gid("Order", number),
                "legacyResourceId": str(number),
                "name": f"#{number}",
                "email": email,
                "phone": phone,
                "createdAt": iso(created),
                "updatedAt": iso(updated_at or created),
                "cancelledAt": None,
                "currencyCode": currency,
                "totalPriceSet": money(total, currency),
                "totalRefundedSet": money(0, currency),
                "displayFinancialStatus": "PAID",
                "discountCodes": list(discount_codes or []),
                "test": False,
                "customAttributes": [
                    {"key": k, "value": v} for k, v in (note_attributes or {}).items()
                ],
                "customerId": customer_id,
                "refunds": [],
                "lineItems": line_items,
            }
            self.orders[order["id"]] = order
            self.discounts.record_use(order["discountCodes"])
            return order

    def product_id(self, title: str) -> str:
        """The product a line item of this title is (one product per title in the sandbox)."""
        with self.lock:
            number = self.products.setdefault(title, 500 + len(self.products))
            return gid("Product", number)

    def add_collection(
        self,
        *,
        handle: str,
        products: list[str],
        title: str | None = None,
        updated_at: datetime | None = None,
    ) -> dict[str, Any]:
        """Create a collection of the products with these titles (as orders name them)."""
        with self.lock:
            number = self.new_number()
            collection: dict[str, Any] = {
                "id": gid("Collection", number),
                "legacyResourceId": str(number),
                "handle": handle,
                "title": title or handle,
                "updatedAt": iso(updated_at or self.clock()),
                "productIds": [self.product_id(t) for t in products],
            }
            self.collections[collection["id"]] = collection
            return collection

    def remove_collection(self, collection_id: str) -> None:
        with self.lock:
            del self.collections[collection_id]

    def update_order(
        self, order_id: str, *, updated_at: datetime | None = None, **changes: Any
    ) -> dict[str, Any]:
        with self.lock:
            order = self.orders[order_id]
            order.update(changes)
            order["updatedAt"] = iso(updated_at or self.clock())
            return order

    def cancel_order(self, order_id: str, *, at: datetime | None = None) -> dict[str, Any]:
        when = at or self.clock()
        return self.update_order(
            order_id, updated_at=when, cancelledAt=iso(when), displayFinancialStatus="VOIDED"
        )

    def refund_order(
        self, order_id: str, amount: str, *, at: datetime | None = None
    ) -> dict[str, Any]:
        """Refund part of an order: a refund entry, and the refunded total grows."""
        with self.lock:
            when = at or self.clock()
            order = self.orders[order_id]
            currency = order["currencyCode"]
            refunded = Decimal(order["totalRefundedSet"]["shopMoney"]["amount"]) + Decimal(amount)
            total = Decimal(order["totalPriceSet"]["shopMoney"]["amount"])
            refund = {
                "id": gid("Refund", self.new_number()),
                "createdAt": iso(when),
                "totalRefundedSet": money(amount, currency),
            }
            order["refunds"].append(refund)
            status = "REFUNDED" if refunded >= total else "PARTIALLY_REFUNDED"
            self.update_order(
                order_id,
                updated_at=when,
                totalRefundedSet=money(refunded, currency),
                displayFinancialStatus=status,
            )
            return refund

    def customer_view(self, customer_id: str | None) -> dict[str, Any] | None:
        """A customer as an order's ``customer`` field shows it."""
        if customer_id is None:
            return None
        return self.customers.get(customer_id)

    # ---- limits and faults ------------------------------------------------------------------

    def set_bucket(self, *, size: float, restore_rate: float, available: float | None = None):
        """Change the store's plan: bucket size, restore rate, and optionally what is left."""
        with self.lock:
            self.bucket = LeakyBucket(size=size, restore_rate=restore_rate)
            self.bucket.available = size if available is None else available

    def throttle_next(self, count: int) -> None:
        """Answer the next ``count`` queries THROTTLED whatever the bucket holds."""
        with self.lock:
            self.forced_throttles = count

    def fail(self, status: int, *, count: int | None = 1, after: int = 0) -> None:
        """Answer HTTP ``status`` to ``count`` requests (all when None) after ``after`` more."""
        with self.lock:
            self.failure = Failure(status=status, remaining=count, after=after)

    def heal(self) -> None:
        with self.lock:
            self.failure = None
            self.forced_throttles = 0

    def take_failure(self) -> int | None:
        """The status to fail this request with, if one is injected (counts it down)."""
        with self.lock:
            failure = self.failure
            if failure is None:
                return None
            if failure.after > 0:
                failure.after -= 1
                return None
            if failure.remaining is not None:
                failure.remaining -= 1
                if failure.remaining <= 0:
                    self.failure = None
            return failure.status

    def record_request(self, operation: str, variables: dict[str, Any] | None) -> None:
        with self.lock:
            self.requests.append({"operation": operation, "variables": variables or {}})

    # ---- bulk operations --------------------------------------------------------------------

    def use_bulk_file(self, path: Path, *, object_count: int = 0) -> None:
        """Serve this JSONL file (e.g. from the generator) as the next bulk operation's result."""
        with self.lock:
            self.bulk_file = (path, object_count)
