"""The sandbox Shopify store behaves as CONNECTORS.md documents, driven by the real
``ShopifyAPI`` client: Relay paging, the updated_at filter, calculated cost and THROTTLED with
HTTP 200, 401 on a bad token, bulk operations with JSONL results, signed webhooks."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import urllib.error
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import shopify

from sandbox.shopify.generator import order_lines, write_orders
from sandbox.shopify.server import ShopifyServer
from sandbox.shopify.state import ShopifyState
from sandbox.shopify.webhooks import sign

T0 = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)
ORDERS = """
query($first: Int!, $after: String, $query: String) {
  orders(first: $first, after: $after, query: $query, sortKey: UPDATED_AT) {
    edges { cursor node { id name updatedAt lineItems(first: 5) { nodes { id title } } } }
    pageInfo { hasNextPage endCursor }
  }
}"""


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ShopifyServer]:
    with ShopifyServer(ShopifyState(bulk_dir=tmp_path)) as server:
        yield server


def run(server: ShopifyServer, query: str, variables: dict[str, Any] | None = None, token=None):
    """One query through ShopifyAPI's GraphQL client, its session active only meanwhile."""
    shopify.ShopifyResource.set_site(f"{server.url}/admin/api/2026-10")
    shopify.ShopifyResource.set_headers(
        {"X-Shopify-Access-Token": token or server.state.access_token}
    )
    try:
        return json.loads(shopify.GraphQL().execute(query, variables))
    finally:
        shopify.ShopifyResource.clear_session()


def test_orders_page_in_updated_order_with_relay_cursors(server: ShopifyServer) -> None:
    for minute in (3, 1, 2, 0, 4):
        server.state.add_order(updated_at=T0 + timedelta(minutes=minute))

    first = run(server, ORDERS, {"first": 2})["data"]["orders"]
    second = run(server, ORDERS, {"first": 2, "after": first["pageInfo"]["endCursor"]})
    last = run(
        server, ORDERS, {"first": 2, "after": second["data"]["orders"]["pageInfo"]["endCursor"]}
    )["data"]["orders"]

    stamps = [
        edge["node"]["updatedAt"]
        for page in (first, second["data"]["orders"], last)
        for edge in page["edges"]
    ]
    assert stamps == sorted(stamps) and len(stamps) == 5
    assert first["pageInfo"]["hasNextPage"] is True
    assert last["pageInfo"] == {"hasNextPage": False, "endCursor": last["edges"][-1]["cursor"]}
    assert first["edges"][0]["node"]["lineItems"]["nodes"][0]["title"] == "Matcha latte"


def test_updated_at_filter_returns_only_later_changes(server: ShopifyServer) -> None:
    for minute in range(5):
        server.state.add_order(updated_at=T0 + timedelta(minutes=minute))

    page = run(server, ORDERS, {"first": 10, "query": "updated_at:>='2026-11-01T09:03:00Z'"})

    assert [e["node"]["updatedAt"] for e in page["data"]["orders"]["edges"]] == [
        "2026-11-01T09:03:00Z",
        "2026-11-01T09:04:00Z",
    ]


def test_a_wrong_access_token_is_answered_401(server: ShopifyServer) -> None:
    with pytest.raises(urllib.error.HTTPError) as refused:
        run(server, ORDERS, {"first": 1}, token="shpat_wrong")
    assert refused.value.code == 401


def test_every_answer_reports_its_cost_and_the_bucket(server: ShopifyServer) -> None:
    server.state.add_order(items=[("Hojicha", 1, "540"), ("Yuzu tart", 1, "720")])

    body = run(server, ORDERS, {"first": 10})

    cost = body["extensions"]["cost"]
    assert cost["requestedQueryCost"] == 2 + 10 * (1 + 2 + 5)
    assert cost["actualQueryCost"] == 2 + 3 + 2
    assert cost["throttleStatus"]["maximumAvailable"] == 1000
    assert cost["throttleStatus"]["restoreRate"] == 100


def test_an_empty_bucket_answers_throttled_with_http_200(server: ShopifyServer) -> None:
    server.state.set_bucket(size=50, restore_rate=1, available=5)

    body = run(server, ORDERS, {"first": 10})  # no HTTPError raised: the status was 200

    assert body["errors"][0]["extensions"]["code"] == "THROTTLED"
    assert "data" not in body
    assert body["extensions"]["cost"]["throttleStatus"]["currentlyAvailable"] < 82


def test_a_query_over_a_thousand_points_is_refused(server: ShopifyServer) -> None:
    body = run(server, ORDERS.replace("first: 5", "first: 50"), {"first": 250})

    assert body["errors"][0]["extensions"]["code"] == "MAX_COST_EXCEEDED"


def test_a_bulk_operation_completes_with_jsonl_children_after_their_parent(
    server: ShopifyServer,
) -> None:
    for _ in range(3):
        server.state.add_order(items=[("Hojicha", 1, "540"), ("Yuzu tart", 2, "720")])
    mutation = (
        "mutation($query: String!) { bulkOperationRunQuery(query: $query) { "
        "bulkOperation { id status } userErrors { field message } } }"
    )
    started = run(server, mutation, {"query": "{ orders { edges { node { id } } } }"})
    operation = started["data"]["bulkOperationRunQuery"]["bulkOperation"]
    assert operation["status"] == "RUNNING"

    poll = "query($id: ID!) { node(id: $id) { ... on BulkOperation { id status url } } }"
    statuses = [run(server, poll, {"id": operation["id"]})["data"]["node"] for _ in range(2)]

    assert [s["status"] for s in statuses] == ["RUNNING", "COMPLETED"]
    result = httpx.get(statuses[-1]["url"])
    lines = [json.loads(line) for line in result.text.splitlines()]
    assert len(lines) == 9
    parents = [line for line in lines if "__parentId" not in line]
    assert len(parents) == 3
    for index, line in enumerate(lines):
        if "__parentId" in line:
            owner = next(p for p in reversed(lines[:index]) if "__parentId" not in p)
            assert line["__parentId"] == owner["id"]


def test_a_second_bulk_operation_is_refused_while_one_runs(server: ShopifyServer) -> None:
    mutation = (
        "mutation($query: String!) { bulkOperationRunQuery(query: $query) { "
        "bulkOperation { id status } userErrors { field message } } }"
    )
    run(server, mutation, {"query": "{ orders { edges { node { id } } } }"})

    second = run(server, mutation, {"query": "{ orders { edges { node { id } } } }"})

    assert second["data"]["bulkOperationRunQuery"]["bulkOperation"] is None
    assert (
        "already in progress" in second["data"]["bulkOperationRunQuery"]["userErrors"][0]["message"]
    )


def test_webhook_signature_is_base64_hmac_sha256_of_the_raw_body() -> None:
    body = b'{"id": 1}'
    expected = base64.b64encode(hmac.new(b"secret", body, hashlib.sha256).digest()).decode()

    assert sign("secret", body) == expected


def test_generated_orders_are_the_same_for_a_seed_and_stitch_to_about_three_items(
    tmp_path: Path,
) -> None:
    path = tmp_path / "orders.jsonl"

    lines = write_orders(path, 200, seed=3)

    assert path.read_text() == "".join(order_lines(200, seed=3))
    assert path.read_text() != "".join(order_lines(200, seed=4))
    parents = [json.loads(line) for line in path.read_text().splitlines()]
    orders = [p for p in parents if "__parentId" not in p]
    assert len(orders) == 200
    assert 2.5 <= (lines - 200) / 200 <= 3.5
