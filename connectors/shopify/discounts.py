"""Code discounts through the GraphQL Admin API: create one, add redeem codes in bulk, follow
each bulk creation to its end.

``discountRedeemCodeBulkAdd`` takes at most 250 codes and imports them asynchronously: it
answers with a ``bulkCreation`` id, and ``discountRedeemCodeBulkCreation`` says when it is
``done`` and which codes failed (``TAKEN`` for a code the store already has). Every call goes
through :class:`ShopifyClient`, so it is paced by the store's cost bucket and retried when
THROTTLED.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from connectors.errors import FatalError
from connectors.shopify.client import ShopifyClient

MAX_CODES_PER_CALL = 250
MUTATION_COST = 10
CODES_PAGE = 250

CREATE_BASIC = """
mutation discountCodeBasicCreate($basicCodeDiscount: DiscountCodeBasicInput!) {
  discountCodeBasicCreate(basicCodeDiscount: $basicCodeDiscount) {
    codeDiscountNode { id }
    userErrors { field code message }
  }
}"""

BULK_ADD = """
mutation discountRedeemCodeBulkAdd($discountId: ID!, $codes: [DiscountRedeemCodeInput!]!) {
  discountRedeemCodeBulkAdd(discountId: $discountId, codes: $codes) {
    bulkCreation { id }
    userErrors { field code message }
  }
}"""

BULK_CREATION = (
    """
query discountRedeemCodeBulkCreation($id: ID!, $after: String) {
  discountRedeemCodeBulkCreation(id: $id) {
    id done codesCount importedCount failedCount
    codes(first: PAGE, after: $after) {
      nodes { code errors { code message } }
      pageInfo { hasNextPage endCursor }
    }
  }
}"""
).replace("PAGE", str(CODES_PAGE))

BULK_CREATION_STATUS = """
query discountRedeemCodeBulkCreation($id: ID!) {
  discountRedeemCodeBulkCreation(id: $id) { id done codesCount importedCount failedCount }
}"""


@dataclass(frozen=True, slots=True)
class DiscountValue:
    """What a code takes off: a percentage (10 for 10 %) or a fixed amount, on the whole order."""

    percentage: Decimal | None = None
    amount: Decimal | None = None

    def to_graphql(self) -> dict[str, Any]:
        if self.percentage is not None:
            return {"percentage": float(self.percentage / 100)}
        if self.amount is not None:
            return {"discountAmount": {"amount": str(self.amount), "appliesOnEachItem": False}}
        raise FatalError("a discount takes off a percentage or an amount")


@dataclass(frozen=True, slots=True)
class BulkCreation:
    """Where one bulk creation is; ``failed`` maps each refused code to Shopify's reason."""

    id: str
    done: bool
    codes_count: int
    imported_count: int
    failed_count: int
    failed: dict[str, str]


def create_discount(
    client: ShopifyClient,
    *,
    title: str,
    first_code: str,
    value: DiscountValue,
    starts_at: str,
    ends_at: str | None = None,
) -> str:
    """Create a code discount for every customer, once per customer; returns its id."""
    data = client.execute(
        CREATE_BASIC,
        {
            "basicCodeDiscount": {
                "title": title,
                "code": first_code,
                "startsAt": starts_at,
                "endsAt": ends_at,
                "context": {"all": "ALL"},
                "customerGets": {"value": value.to_graphql(), "items": {"all": True}},
                "appliesOncePerCustomer": True,
            }
        },
        cost=MUTATION_COST,
    )
    answer = data.get("discountCodeBasicCreate") or {}
    _raise_user_errors(answer, "create the discount")
    return str(answer["codeDiscountNode"]["id"])


def add_codes(client: ShopifyClient, *, discount_id: str, codes: Sequence[str]) -> str:
    """Start importing up to 250 codes into the discount; returns the bulk creation's id."""
    if not 1 <= len(codes) <= MAX_CODES_PER_CALL:
        raise ValueError(f"1 to {MAX_CODES_PER_CALL} codes per call, not {len(codes)}")
    data = client.execute(
        BULK_ADD,
        {"discountId": discount_id, "codes": [{"code": code} for code in codes]},
        cost=MUTATION_COST,
    )
    answer = data.get("discountRedeemCodeBulkAdd") or {}
    _raise_user_errors(answer, "add codes")
    return str(answer["bulkCreation"]["id"])


def read_creation(client: ShopifyClient, creation_id: str) -> BulkCreation:
    """The creation's counts; once done, every refused code with its reason."""
    data = client.execute(BULK_CREATION_STATUS, {"id": creation_id}, cost=1)
    node = data.get("discountRedeemCodeBulkCreation")
    if node is None:
        raise FatalError(f"Shopify knows no bulk creation {creation_id}")
    failed: dict[str, str] = {}
    if node["done"] and int(node["failedCount"]) > 0:
        after: str | None = None
        while True:
            page = client.execute(
                BULK_CREATION, {"id": creation_id, "after": after}, cost=3 + CODES_PAGE
            )["discountRedeemCodeBulkCreation"]["codes"]
            for code in page["nodes"]:
                if code["errors"]:
                    failed[code["code"]] = "; ".join(
                        f"{e.get('code')}: {e.get('message')}" for e in code["errors"]
                    )
            if not page["pageInfo"]["hasNextPage"]:
                break
            after = page["pageInfo"]["endCursor"]
    return BulkCreation(
        id=str(node["id"]),
        done=bool(node["done"]),
        codes_count=int(node["codesCount"]),
        imported_count=int(node["importedCount"]),
        failed_count=int(node["failedCount"]),
        failed=failed,
    )


def _raise_user_errors(answer: dict[str, Any], doing: str) -> None:
    errors = answer.get("userErrors") or []
    if errors:
        detail = "; ".join(f"{e.get('code')}: {e.get('message')}" for e in errors)
        raise FatalError(f"Shopify would not {doing}: {detail}")
