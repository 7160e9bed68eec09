"""The Shopify connector: streams ``customers`` and ``orders`` on ``updated_at``, a bulk-operation
backfill for large stores, and webhook checks.

Credentials: ``access_token`` (Admin API), ``client_secret`` (webhook HMAC). Options:
``api_version`` (default 2026-10), ``page_size`` (25; capped so a page costs at most 1,000
points), ``lookback_seconds`` (300),
``member_number_metafield`` ("namespace.key") or ``member_number_tag_prefix`` ("member:"),
``line_user_id_attribute`` ("line_user_id"), ``backfill`` ("pages" or "bulk"),
``bulk_page_size`` (1000), ``bulk_poll_seconds`` (2), ``bulk_timeout_seconds`` (3600),
``request_timeout_seconds`` (30: a request unanswered this long is retried),
``collections_refresh_hours`` (6).

The ``collections`` stream reads every collection with its products' ids, whole, at most every
``collections_refresh_hours``: a smart collection's members change without its ``updatedAt``
moving, so there is nothing to read incrementally. Its last page lists what it saw, and the
collections the store no longer has are deleted.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

from connectors.base import ConnectionConfig, Page, Stream, WebhookEvent
from connectors.errors import FatalError, SkippableRecord
from connectors.options import parse_options
from connectors.records import ProductGroupRecord, ProductGroupsSeen, Record
from connectors.shopify import bulk, queries, webhooks
from connectors.shopify.client import RetryPolicy, ShopifyClient
from connectors.shopify.normalize import (
    KeyOptions,
    customer_from_graphql,
    customer_from_rest,
    numeric_id,
    order_from_graphql,
    order_from_rest,
    parse_time,
)
from connectors.shopify.options import ShopifyOptions
from core.errors import InvalidSignature


def iso(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class ShopifyConnector:
    """One Shopify store, configured from its connection row."""

    kind: ClassVar[str] = "shopify"
    streams: ClassVar[tuple[Stream, ...]] = (
        Stream(name="customers", primary_key="id", cursor_field="updatedAt"),
        Stream(name="orders", primary_key="id", cursor_field="updatedAt"),
        Stream(name="collections", primary_key="id", cursor_field="refreshedAt"),
    )

    def __init__(
        self,
        config: ConnectionConfig,
        *,
        sleep: Callable[[float], None] = time.sleep,
        retry: RetryPolicy | None = None,
    ) -> None:
        options = parse_options(ShopifyOptions, self.kind, config.options)
        self.config = config
        self.options = options
        self.api_version = options.api_version
        self.page_size = options.page_size
        self.lookback = timedelta(seconds=options.lookback_seconds)
        self.backfill = options.backfill
        self.bulk_page_size = options.bulk_page_size
        self.bulk_poll_seconds = options.bulk_poll_seconds
        self.bulk_timeout_seconds = options.bulk_timeout_seconds
        self.request_timeout = options.request_timeout_seconds
        self.collections_refresh = timedelta(hours=options.collections_refresh_hours)
        self.keys = KeyOptions(
            member_number_metafield=options.member_number_metafield or None,
            member_number_tag_prefix=options.member_number_tag_prefix or None,
            line_user_id_attribute=options.line_user_id_attribute,
        )
        self._sleep = sleep
        self._retry = retry
        self._client: ShopifyClient | None = None

    @property
    def client(self) -> ShopifyClient:
        if self._client is None:
            token = self.config.credentials.get("access_token")
            if not token:
                raise FatalError(
                    "the connection has no access_token credential: add the connection again "
                    "with `--credential access_token=shpat_…`"
                )
            base_url = self.config.base_url or self._store_url()
            self._client = ShopifyClient(
                base_url=base_url,
                access_token=str(token),
                api_version=self.api_version,
                retry=self._retry,
                sleep=self._sleep,
                timeout=self.request_timeout,
            )
        return self._client

    def _store_url(self) -> str:
        domain = self.options.shop_domain
        if not domain:
            raise FatalError(
                "set the connection's --base-url (or the option shop_domain=<store>.myshopify.com)"
            )
        return f"https://{domain}"

    # ---- sync -------------------------------------------------------------------------------

    def pull(
        self, stream: str, cursor: str | None, *, now: datetime, full: bool = False
    ) -> Iterator[Page]:
        """Pages of customers or orders changed since ``cursor`` (a timestamp), oldest first."""
        if stream not in ("customers", "orders", "collections"):
            raise FatalError(f"Shopify has no stream {stream!r} (customers, orders, collections)")
        if stream == "collections":
            refreshed = None if full or cursor is None else parse_time(cursor)
            if refreshed is None or now - refreshed >= self.collections_refresh:
                yield from self._collections(now)
            return
        progress = bulk.BulkProgress.from_cursor(cursor)
        if stream == "orders" and progress is not None and not full:
            yield from self._bulk_pages(progress, now)
        elif stream == "orders" and self.backfill == "bulk" and (full or cursor is None):
            yield from self._bulk_pages(None, now)
        else:
            since = None if full or cursor is None or progress else parse_time(cursor)
            yield from self._pages(stream, since, now)

    def _pages(self, stream: str, since: datetime | None, now: datetime) -> Iterator[Page]:
        metafield = self.keys.member_number_metafield
        document = (
            queries.orders_page(metafield)
            if stream == "orders"
            else queries.customers_page(metafield)
        )
        search = f"updated_at:>='{iso(since - self.lookback)}'" if since else None
        bookmark = since
        after: str | None = None
        first = max(1, min(self.page_size, queries.max_page_size(stream)))
        while True:
            variables = {"first": first, "after": after, "query": search}
            data = self.client.execute(document, variables, cost=queries.page_cost(stream, first))
            connection = data.get(stream) or {}
            nodes = [edge["node"] for edge in connection.get("edges") or ()]
            records, skipped = self._records(stream, nodes)
            stamps = [s for s in (parse_time(n.get("updatedAt")) for n in nodes) if s]
            if stamps:
                newest = max(stamps)
                bookmark = min(max(bookmark, newest) if bookmark else newest, now)
            yield Page(records=records, cursor=iso(bookmark) if bookmark else None, skipped=skipped)
            info = connection.get("pageInfo") or {}
            if not info.get("hasNextPage"):
                return
            after = info.get("endCursor")

    def _collections(self, now: datetime) -> Iterator[Page]:
        """Every collection with all its products' ids; the last page says which exist."""
        seen: list[str] = []
        after: str | None = None
        while True:
            data = self.client.execute(
                queries.COLLECTIONS_PAGE,
                {"first": queries.COLLECTIONS_FIRST, "after": after},
                cost=queries.COLLECTIONS_PAGE_COST,
            )
            connection = data.get("collections") or {}
            records: list[Record] = []
            for edge in connection.get("edges") or ():
                node = edge["node"]
                records.append(
                    ProductGroupRecord(
                        external_id=numeric_id(node["id"]),
                        handle=str(node["handle"]),
                        title=str(node.get("title") or node["handle"]),
                        product_ids=tuple(self._collection_products(node)),
                        updated_at=parse_time(node.get("updatedAt")) or now,
                    )
                )
                seen.append(numeric_id(node["id"]))
            info = connection.get("pageInfo") or {}
            if not info.get("hasNextPage"):
                records.append(ProductGroupsSeen(external_ids=tuple(seen)))
                yield Page(records=records, cursor=iso(now))
                return
            yield Page(records=records, cursor=None)
            after = info.get("endCursor")

    def _collection_products(self, node: dict[str, Any]) -> Iterator[str]:
        products = node.get("products") or {}
        while True:
            yield from (numeric_id(p["id"]) for p in products.get("nodes") or ())
            info = products.get("pageInfo") or {}
            if not info.get("hasNextPage"):
                return
            data = self.client.execute(
                queries.COLLECTION_PRODUCTS,
                {"id": node["id"], "after": info.get("endCursor")},
                cost=queries.COLLECTION_PRODUCTS_COST,
            )
            products = (data.get("collection") or {}).get("products") or {}

    def _records(self, stream: str, nodes: list[dict[str, Any]]) -> tuple[list[Record], int]:
        records: list[Record] = []
        skipped = 0
        for node in nodes:
            try:
                if stream == "orders":
                    records.append(order_from_graphql(node, self.keys))
                else:
                    records.append(customer_from_graphql(node, self.keys))
            except SkippableRecord:
                skipped += 1
        return records, skipped

    def _bulk_pages(self, progress: bulk.BulkProgress | None, now: datetime) -> Iterator[Page]:
        if progress is None:
            operation_id = bulk.start(
                self.client, queries.bulk_orders(self.keys.member_number_metafield)
            )
            progress = bulk.BulkProgress(operation_id=operation_id, line=0, started=iso(now))
            # Checkpoint the operation before waiting, so a killed run resumes this one.
            yield Page(records=[], cursor=progress.to_cursor())
        url = bulk.wait_for_url(
            self.client,
            progress.operation_id,
            poll_seconds=self.bulk_poll_seconds,
            timeout_seconds=self.bulk_timeout_seconds,
            sleep=self._sleep,
        )
        if url:
            yield from self._bulk_result(url, progress)
        else:
            yield Page(records=[], cursor=progress.started)

    def _bulk_result(self, url: str, progress: bulk.BulkProgress) -> Iterator[Page]:
        records: list[Record] = []
        skipped = 0
        lines = bulk.result_lines(url, skip=progress.line)
        for item in bulk.stitch(lines, first_line=progress.line):
            try:
                records.append(order_from_graphql(item.node, self.keys, item.children))
            except SkippableRecord:
                skipped += 1
            if len(records) + skipped >= self.bulk_page_size:
                cursor = bulk.BulkProgress(progress.operation_id, item.next_line, progress.started)
                yield Page(records=records, cursor=cursor.to_cursor(), skipped=skipped)
                records, skipped = [], 0
        # The last page moves the bookmark to the backfill's start: incremental runs go on from it.
        yield Page(records=records, cursor=progress.started, skipped=skipped)

    def fetch_order(self, order_id: str) -> Record | None:
        """The order as the store has it now (a refund webhook carries only the refund)."""
        data = self.client.execute(
            queries.order_by_id(self.keys.member_number_metafield),
            {"id": f"gid://shopify/Order/{order_id}"},
            cost=queries.node_cost("orders"),
        )
        node = data.get("order")
        return order_from_graphql(node, self.keys) if node else None

    # ---- webhooks ---------------------------------------------------------------------------

    def verify_webhook(self, headers: Mapping[str, str], body: bytes, *, now: datetime) -> None:
        """X-Shopify-Hmac-Sha256 over the raw body with the app's client secret."""
        secret = self.config.credentials.get("client_secret")
        if not secret:
            raise InvalidSignature(
                "the connection has no client_secret credential to check webhooks with: "
                "add it with `--credential client_secret=…`"
            )
        webhooks.verify(str(secret), headers, body)

    def parse_webhook(self, headers: Mapping[str, str], body: bytes) -> list[WebhookEvent]:
        return webhooks.parse(headers, body)

    def normalize(self, topic: str, payload: dict[str, Any]) -> Record | None:
        """Orders and customers as records; a refund as its order re-read from the store.

        App and privacy topics carry no record: ``commerce.privacy`` acts on them.
        """
        if topic in webhooks.ORDER_TOPICS:
            return order_from_rest(payload, self.keys)
        if topic in webhooks.CUSTOMER_TOPICS:
            return customer_from_rest(payload, self.keys)
        if topic == "refunds/create":
            return self.fetch_order(str(payload["order_id"]))
        return None
