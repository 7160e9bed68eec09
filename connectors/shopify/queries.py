"""The GraphQL documents the connector sends, and the cost it expects each page to have."""

from __future__ import annotations

import json

MAX_LINE_ITEMS = 25
MAX_QUERY_COST = 1000


def _metafield(metafield: str | None) -> str:
    """The member-number metafield selection (``namespace.key``), or nothing."""
    if not metafield or "." not in metafield:
        return ""
    namespace, key = metafield.split(".", 1)
    return f"metafield(namespace: {json.dumps(namespace)}, key: {json.dumps(key)}) {{ value }}"


def customer_fields(metafield: str | None) -> str:
    return f"""
    id legacyResourceId firstName lastName createdAt updatedAt tags numberOfOrders
    defaultEmailAddress {{ emailAddress }}
    defaultPhoneNumber {{ phoneNumber }}
    amountSpent {{ amount currencyCode }}
    {_metafield(metafield)}
    """


def _order_scalars(metafield: str | None) -> str:
    return f"""
    id legacyResourceId name email phone createdAt updatedAt cancelledAt currencyCode test
    displayFinancialStatus discountCodes
    totalPriceSet {{ shopMoney {{ amount currencyCode }} }}
    totalRefundedSet {{ shopMoney {{ amount currencyCode }} }}
    customAttributes {{ key value }}
    refunds {{ id createdAt totalRefundedSet {{ shopMoney {{ amount }} }} }}
    customer {{ {customer_fields(metafield)} }}
    """


LINE_ITEM_FIELDS = """
    id title quantity sku
    originalUnitPriceSet { shopMoney { amount } }
    product { id }
    variant { id }
"""


def customers_page(metafield: str | None) -> str:
    return f"""
query CustomersPage($first: Int!, $after: String, $query: String) {{
  customers(first: $first, after: $after, query: $query, sortKey: UPDATED_AT) {{
    edges {{ cursor node {{ {customer_fields(metafield)} }} }}
    pageInfo {{ hasNextPage endCursor }}
  }}
}}"""


def orders_page(metafield: str | None) -> str:
    return f"""
query OrdersPage($first: Int!, $after: String, $query: String) {{
  orders(first: $first, after: $after, query: $query, sortKey: UPDATED_AT) {{
    edges {{ cursor node {{
      {_order_scalars(metafield)}
      lineItems(first: {MAX_LINE_ITEMS}) {{ nodes {{ {LINE_ITEM_FIELDS} }} }}
    }} }}
    pageInfo {{ hasNextPage endCursor }}
  }}
}}"""


def order_by_id(metafield: str | None) -> str:
    return f"""
query OrderById($id: ID!) {{
  order(id: $id) {{
    {_order_scalars(metafield)}
    lineItems(first: {MAX_LINE_ITEMS}) {{ nodes {{ {LINE_ITEM_FIELDS} }} }}
  }}
}}"""


def bulk_orders(metafield: str | None) -> str:
    """The bulk query: every order, its line items as child lines (``__parentId``)."""
    return f"""
{{
  orders(sortKey: UPDATED_AT) {{
    edges {{ node {{
      {_order_scalars(metafield)}
      lineItems {{ edges {{ node {{ {LINE_ITEM_FIELDS} }} }} }}
    }} }}
  }}
}}"""


RUN_BULK = """
mutation RunBulk($query: String!) {
  bulkOperationRunQuery(query: $query) {
    bulkOperation { id status }
    userErrors { field message }
  }
}"""

BULK_STATUS = """
query BulkStatus($id: ID!) {
  node(id: $id) {
    ... on BulkOperation { id status errorCode objectCount url partialDataUrl }
  }
}"""


# Collections with the first products of each (2 + 8 * (1 + 2 + 100) = 826 points); a larger
# collection's further products, 250 at a time (1 + 2 + 250 = 253 points).
COLLECTIONS_FIRST = 8
COLLECTION_PRODUCTS_FIRST = 100
MORE_PRODUCTS_FIRST = 250

COLLECTIONS_PAGE = f"""
query CollectionsPage($first: Int!, $after: String) {{
  collections(first: $first, after: $after, sortKey: UPDATED_AT) {{
    edges {{ cursor node {{
      id handle title updatedAt
      products(first: {COLLECTION_PRODUCTS_FIRST}) {{
        nodes {{ id }}
        pageInfo {{ hasNextPage endCursor }}
      }}
    }} }}
    pageInfo {{ hasNextPage endCursor }}
  }}
}}"""

COLLECTION_PRODUCTS = f"""
query CollectionProducts($id: ID!, $after: String) {{
  collection(id: $id) {{
    products(first: {MORE_PRODUCTS_FIRST}, after: $after) {{
      nodes {{ id }}
      pageInfo {{ hasNextPage endCursor }}
    }}
  }}
}}"""

COLLECTIONS_PAGE_COST = 2 + COLLECTIONS_FIRST * (3 + COLLECTION_PRODUCTS_FIRST)
COLLECTION_PRODUCTS_COST = 3 + MORE_PRODUCTS_FIRST


def node_cost(stream: str) -> int:
    """What one node costs: an order with its line-item connection, or a customer."""
    return 1 + 2 + MAX_LINE_ITEMS if stream == "orders" else 2


def page_cost(stream: str, first: int) -> int:
    """What a page is expected to cost: 2 for the connection, then per node."""
    return 2 + first * node_cost(stream)


def max_page_size(stream: str) -> int:
    """The largest page a single query may ask for (Shopify refuses over 1,000 points)."""
    return (MAX_QUERY_COST - 2) // node_cost(stream)
