"""The GraphQL Admin API subset the hub uses, answered from :class:`ShopifyState`.

Not a GraphQL engine: each request is routed by its root field (``customers``, ``orders``,
``order``, ``collections``, ``collection``, ``bulkOperationRunQuery``, ``currentBulkOperation``,
``node``, and the code-discount calls of :mod:`sandbox.shopify.discounts`) and answered with
the fields the hub selects. What is emulated faithfully is what a
client must cope with: Relay paging (``first``/``after``/``pageInfo``, for a collection's
products too), the ``updated_at`` search filter, ``sortKey: UPDATED_AT``, the calculated query
cost against a leaky bucket (THROTTLED with HTTP 200, MAX_COST_EXCEEDED over 1,000 points), and
bulk operations whose result is a JSONL file with nested connections as separate lines carrying
``__parentId``.
"""

from __future__ import annotations

import base64
import json
import re
import tempfile
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from sandbox.shopify.discounts import MUTATION_COST
from sandbox.shopify.state import BulkOperation, ShopifyState, gid, iso

MAX_QUERY_COST = 1000
LINE_ITEMS_FIRST = re.compile(r"lineItems\(\s*first:\s*(\d+)")
PRODUCTS_FIRST = re.compile(r"products\(\s*first:\s*(\d+)")
CUSTOMER_NODE_COST = 2

_CODES_FIRST = re.compile(r"codes\(\s*first:\s*(\d+)")
_FILTER = re.compile(r"updated_at:(>=|<=|>|<)'?([^'\s]+)'?")
_METAFIELD = re.compile(r'metafield\(\s*namespace:\s*"([^"]*)"\s*,\s*key:\s*"([^"]*)"\s*\)')
_ROOTS = (
    "discountCodeBasicCreate",
    "discountRedeemCodeBulkAdd",
    "discountRedeemCodeBulkCreation",
    "bulkOperationRunQuery",
    "currentBulkOperation",
    "node",
    "order",
    "orders",
    "customers",
    "collections",
    "collection",
)


class GraphQLError(Exception):
    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.code = code


def root_field(query: str) -> str:
    """The operation's root field: the first known name followed by ``(`` or ``{``."""
    found = [
        (match.start(), name)
        for name in _ROOTS
        for match in [re.search(rf"\b{name}\s*[({{]", query)]
        if match
    ]
    if not found:
        raise GraphQLError("this sandbox does not serve that query", "UNSUPPORTED")
    return min(found)[1]


def execute(state: ShopifyState, query: str, variables: dict[str, Any]) -> dict[str, Any]:
    """Answer one GraphQL request (HTTP 200 either way, like Shopify)."""
    try:
        root = root_field(query)
    except GraphQLError as exc:
        return {"errors": [{"message": str(exc), "extensions": {"code": exc.code}}]}
    state.record_request(root, variables)
    requested = _requested_cost(root, query, variables)
    with state.lock:
        bucket = state.bucket
        bucket.refill(time.monotonic())
        if requested > MAX_QUERY_COST:
            return _cost_error(state, requested, "MAX_COST_EXCEEDED", "Query cost is too high")
        if state.forced_throttles > 0 or requested > bucket.available:
            state.forced_throttles = max(0, state.forced_throttles - 1)
            return _cost_error(state, requested, "THROTTLED", "Throttled")
        bucket.available -= requested
        data, actual = _resolve(state, root, query, variables)
        bucket.available = min(bucket.size, bucket.available + requested - actual)
        return {
            "data": data,
            "extensions": {
                "cost": {
                    "requestedQueryCost": requested,
                    "actualQueryCost": actual,
                    "throttleStatus": bucket.status(),
                }
            },
        }


def _cost_error(state: ShopifyState, requested: int, code: str, message: str) -> dict[str, Any]:
    return {
        "errors": [
            {
                "message": message,
                "extensions": {
                    "code": code,
                    "documentation": "https://shopify.dev/api/usage/rate-limits",
                },
            }
        ],
        "extensions": {
            "cost": {
                "requestedQueryCost": requested,
                "actualQueryCost": None,
                "throttleStatus": state.bucket.status(),
            }
        },
    }


def _first(variables: dict[str, Any]) -> int:
    return max(1, min(250, int(variables.get("first") or 50)))


def order_node_cost(query: str) -> int:
    """An order (1) plus its nested ``lineItems(first: N)`` connection (2 + N)."""
    nested = LINE_ITEMS_FIRST.search(query)
    return 1 + (2 + int(nested.group(1)) if nested else 0)


def collection_node_cost(query: str) -> int:
    """A collection (1) plus its nested ``products(first: N)`` connection (2 + N)."""
    nested = PRODUCTS_FIRST.search(query)
    return 1 + (2 + int(nested.group(1)) if nested else 0)


def _requested_cost(root: str, query: str, variables: dict[str, Any]) -> int:
    """Shopify's rule: a connection costs 2 plus ``first`` times what each node costs."""
    if root == "orders":
        return 2 + _first(variables) * order_node_cost(query)
    if root == "customers":
        return 2 + _first(variables) * CUSTOMER_NODE_COST
    if root == "collections":
        return 2 + _first(variables) * collection_node_cost(query)
    if root == "collection":
        return collection_node_cost(query)
    if root == "bulkOperationRunQuery":
        return 10
    if root == "order":
        return order_node_cost(query)
    if root in ("discountCodeBasicCreate", "discountRedeemCodeBulkAdd"):
        return MUTATION_COST
    if root == "discountRedeemCodeBulkCreation":
        nested = _CODES_FIRST.search(query)
        return 1 + (2 + int(nested.group(1)) if nested else 0)
    return 1


def _resolve(
    state: ShopifyState, root: str, query: str, variables: dict[str, Any]
) -> tuple[dict[str, Any], int]:
    metafield = _METAFIELD.search(query)
    key = f"{metafield.group(1)}.{metafield.group(2)}" if metafield else None
    if root == "customers":
        page, returned = _page(state, state.customers, variables, lambda c: customer(c, key))
        return {"customers": page}, 2 + returned * CUSTOMER_NODE_COST
    if root == "orders":
        page, returned = _page(state, state.orders, variables, lambda o: order(state, o, key))
        lines = sum(len(edge["node"]["lineItems"]["nodes"]) for edge in page["edges"])
        return {"orders": page}, 2 + returned * 3 + lines
    if root == "order":
        found = state.orders.get(variables.get("id", ""))
        return {"order": order(state, found, key) if found else None}, order_node_cost(query)
    if root == "collections":
        first = _products_first(query)
        page, returned = _page(
            state, state.collections, variables, lambda c: collection(c, first, None)
        )
        products = sum(len(e["node"]["products"]["nodes"]) for e in page["edges"])
        return {"collections": page}, 2 + returned * 3 + products
    if root == "collection":
        found = state.collections.get(variables.get("id", ""))
        if found is None:
            return {"collection": None}, 1
        rendered = collection(found, _products_first(query), variables.get("after"))
        return {"collection": rendered}, 3 + len(rendered["products"]["nodes"])
    if root == "bulkOperationRunQuery":
        return {"bulkOperationRunQuery": _run_bulk(state, variables)}, 10
    if root.startswith("discount"):
        return _discounts(state, root, query, variables)
    if root == "currentBulkOperation":
        operations = list(state.bulk_operations.values())
        return {"currentBulkOperation": _poll(state, operations[-1] if operations else None)}, 1
    operation = state.bulk_operations.get(variables.get("id", ""))
    return {"node": _poll(state, operation)}, 1


def _discounts(
    state: ShopifyState, root: str, query: str, variables: dict[str, Any]
) -> tuple[dict[str, Any], int]:
    store = state.discounts
    if root == "discountCodeBasicCreate":
        new_id = gid("DiscountCodeNode", state.new_number())
        answer = store.create_basic(new_id, variables.get("basicCodeDiscount") or {})
        return {root: answer}, MUTATION_COST
    if root == "discountRedeemCodeBulkAdd":
        new_id = gid("DiscountRedeemCodeBulkCreation", state.new_number())
        created = iso(state.clock())
        codes = variables.get("codes")
        answer = store.bulk_add(new_id, created, str(variables.get("discountId") or ""), codes)
        return {root: answer}, MUTATION_COST
    nested = _CODES_FIRST.search(query)
    first = max(1, min(250, int(nested.group(1)))) if nested else 0
    found = store.read_creation(str(variables.get("id") or ""), first, variables.get("after"))
    shown = len(found["codes"]["nodes"]) if found else 0
    return {root: found or None}, 1 + (2 + shown if nested else 0)


def _sort_key(node: dict[str, Any]) -> tuple[str, int]:
    return node["updatedAt"], int(node["legacyResourceId"])


def encode_cursor(node: dict[str, Any]) -> str:
    updated, number = _sort_key(node)
    return base64.b64encode(f"{updated}|{number}".encode()).decode()


def _decode_cursor(cursor: str) -> tuple[str, int]:
    updated, number = base64.b64decode(cursor).decode().split("|")
    return updated, int(number)


def _matches(node: dict[str, Any], search: str | None) -> bool:
    if not search:
        return True
    for op, value in _FILTER.findall(search):
        stamp = node["updatedAt"]
        value = iso_normal(value)
        ok = {
            ">=": stamp >= value,
            ">": stamp > value,
            "<=": stamp <= value,
            "<": stamp < value,
        }[op]
        if not ok:
            return False
    return True


def iso_normal(value: str) -> str:
    """A filter timestamp in the stored form (``…Z``, seconds), so strings compare in order."""
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return iso(parsed)


def _page(
    state: ShopifyState, nodes: dict[str, dict[str, Any]], variables: dict[str, Any], render: Any
) -> tuple[dict[str, Any], int]:
    first = _first(variables)
    candidates = sorted(
        (n for n in nodes.values() if _matches(n, variables.get("query"))), key=_sort_key
    )
    if variables.get("after"):
        after = _decode_cursor(variables["after"])
        candidates = [n for n in candidates if _sort_key(n) > after]
    chosen = candidates[:first]
    page = {
        "edges": [{"cursor": encode_cursor(n), "node": render(n)} for n in chosen],
        "pageInfo": {
            "hasNextPage": len(candidates) > first,
            "endCursor": encode_cursor(chosen[-1]) if chosen else None,
        },
    }
    return page, len(chosen)


def _products_first(query: str) -> int:
    nested = PRODUCTS_FIRST.search(query)
    return max(1, min(250, int(nested.group(1)))) if nested else 0


def collection(node: dict[str, Any], products_first: int, after: str | None) -> dict[str, Any]:
    """A collection as the API renders it, with one page of its products' ids."""
    rendered = {k: v for k, v in node.items() if k != "productIds"}
    start = int(base64.b64decode(after).decode()) if after else 0
    chosen = node["productIds"][start : start + products_first]
    end = start + len(chosen)
    rendered["products"] = {
        "nodes": [{"id": product} for product in chosen],
        "pageInfo": {
            "hasNextPage": end < len(node["productIds"]),
            "endCursor": base64.b64encode(str(end).encode()).decode() if chosen else None,
        },
    }
    return rendered


def customer(node: dict[str, Any], metafield_key: str | None) -> dict[str, Any]:
    """A customer as the API renders it (``metafield`` the one the query asked for)."""
    rendered = {k: v for k, v in node.items() if k != "metafields"}
    value = node["metafields"].get(metafield_key) if metafield_key else None
    rendered["metafield"] = {"value": value} if value is not None else None
    return rendered


def order(
    state: ShopifyState,
    node: dict[str, Any],
    metafield_key: str | None,
    *,
    nested_items: bool = True,
) -> dict[str, Any]:
    """An order as the API renders it, its customer inline."""
    rendered = {k: v for k, v in node.items() if k not in ("customerId", "lineItems")}
    buyer = state.customer_view(node.get("customerId"))
    rendered["customer"] = customer(buyer, metafield_key) if buyer else None
    if nested_items:
        rendered["lineItems"] = {"nodes": node["lineItems"]}
    return rendered


# ---- bulk operations ------------------------------------------------------------------------


def _run_bulk(state: ShopifyState, variables: dict[str, Any]) -> dict[str, Any]:
    bulk_query = str(variables.get("query") or "")
    running = [op for op in state.bulk_operations.values() if op.status in ("CREATED", "RUNNING")]
    if running:
        return {
            "bulkOperation": None,
            "userErrors": [
                {
                    "field": ["query"],
                    "message": f"A bulk query operation for this app and shop is already in "
                    f"progress: {running[0].id}.",
                }
            ],
        }
    operation = BulkOperation(
        id=gid("BulkOperation", state.new_number()),
        query=bulk_query,
        status="RUNNING",
        created_at=iso(state.clock()),
        polls_left=state.bulk_polls_before_complete,
    )
    state.bulk_operations[operation.id] = operation
    return {"bulkOperation": _view(state, operation), "userErrors": []}


def _poll(state: ShopifyState, operation: BulkOperation | None) -> dict[str, Any] | None:
    if operation is None:
        return None
    if operation.status == "RUNNING":
        if operation.polls_left > 0:
            operation.polls_left -= 1
        else:
            _complete(state, operation)
    return _view(state, operation)


def _complete(state: ShopifyState, operation: BulkOperation) -> None:
    if state.bulk_file is not None:
        operation.path, operation.object_count = state.bulk_file
        state.bulk_file = None
    else:
        directory = state.bulk_dir or Path(tempfile.gettempdir())
        operation.path = directory / f"shopify-bulk-{operation.id.rsplit('/', 1)[1]}.jsonl"
        with operation.path.open("w", encoding="utf-8") as out:
            for line in bulk_lines(state, operation.query):
                out.write(line)
                operation.object_count += 1
    operation.status = "COMPLETED"
    operation.completed_at = iso(state.clock())


def _view(state: ShopifyState, operation: BulkOperation) -> dict[str, Any]:
    completed = operation.status == "COMPLETED"
    number = operation.id.rsplit("/", 1)[1]
    return {
        "id": operation.id,
        "status": operation.status,
        "errorCode": None,
        "createdAt": operation.created_at,
        "completedAt": operation.completed_at,
        "objectCount": str(operation.object_count),
        "fileSize": str(operation.path.stat().st_size) if completed and operation.path else None,
        "url": f"{state.public_url}/bulk/{number}.jsonl" if completed else None,
        "partialDataUrl": None,
    }


def bulk_lines(state: ShopifyState, bulk_query: str) -> Iterator[str]:
    """The JSONL of a bulk query over the store: each order, then its line items."""
    metafield = _METAFIELD.search(bulk_query)
    key = f"{metafield.group(1)}.{metafield.group(2)}" if metafield else None
    if root_field(bulk_query) == "customers":
        for node in sorted(state.customers.values(), key=_sort_key):
            yield json.dumps(customer(node, key)) + "\n"
        return
    for node in sorted(state.orders.values(), key=_sort_key):
        yield json.dumps(order(state, node, key, nested_items=False)) + "\n"
        for item in node["lineItems"]:
            yield json.dumps({**item, "__parentId": node["id"]}) + "\n"
