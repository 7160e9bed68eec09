"""Shopify's customers and orders — the GraphQL shape the sync reads and the REST shape webhooks
carry — as the hub's typed records. Vendor dicts stop here."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from connectors.errors import SkippableRecord
from connectors.records import Contact, CustomerRecord, PurchaseItemRecord, PurchaseRecord


@dataclass(frozen=True, slots=True)
class KeyOptions:
    """Where a shop keeps the strong keys Shopify has no field for."""

    member_number_metafield: str | None = None
    member_number_tag_prefix: str | None = None
    line_user_id_attribute: str = "line_user_id"


def parse_time(value: str | None) -> datetime | None:
    """An ISO-8601 timestamp (``Z`` or an offset) as an aware UTC datetime."""
    if not value:
        return None
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def _required_time(value: str | None, field: str) -> datetime:
    parsed = parse_time(value)
    if parsed is None:
        raise SkippableRecord(f"missing {field}")
    return parsed


def numeric_id(value: Any) -> str:
    """``gid://shopify/Order/1001`` or ``1001`` → ``"1001"`` (REST and GraphQL ids agree)."""
    text = str(value)
    return text.rsplit("/", 1)[1] if text.startswith("gid://") else text


def _decimal(value: Any) -> Decimal:
    try:
        return Decimal(str(value if value is not None else 0))
    except InvalidOperation as exc:
        raise SkippableRecord(f"not an amount: {value!r}") from exc


def _shop_money(value: dict[str, Any] | None) -> Decimal:
    return _decimal(((value or {}).get("shopMoney") or {}).get("amount"))


def _tags(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        return tuple(t.strip() for t in value.split(",") if t.strip())
    return tuple(str(t) for t in value or ())


def _member_number(
    options: KeyOptions, tags: tuple[str, ...], metafield: dict[str, Any] | None
) -> str | None:
    if options.member_number_metafield and metafield and metafield.get("value"):
        return str(metafield["value"]).strip()
    prefix = options.member_number_tag_prefix
    if prefix:
        for tag in tags:
            if tag.startswith(prefix) and len(tag) > len(prefix):
                return tag[len(prefix) :].strip()
    return None


# ---- GraphQL shape (sync, bulk) -------------------------------------------------------------


def customer_contact(node: dict[str, Any] | None, options: KeyOptions) -> Contact:
    if not node:
        return Contact()
    return Contact(
        email=(node.get("defaultEmailAddress") or {}).get("emailAddress"),
        phone=(node.get("defaultPhoneNumber") or {}).get("phoneNumber"),
        member_number=_member_number(options, _tags(node.get("tags")), node.get("metafield")),
    )


def customer_from_graphql(node: dict[str, Any], options: KeyOptions) -> CustomerRecord:
    """A GraphQL Customer node."""
    return CustomerRecord(
        external_id=numeric_id(node["id"]),
        updated_at=_required_time(node.get("updatedAt"), "updatedAt"),
        contact=customer_contact(node, options),
        tags=_tags(node.get("tags")),
        attributes={
            "number_of_orders": int(node.get("numberOfOrders") or 0),
            "amount_spent": str((node.get("amountSpent") or {}).get("amount", "0")),
        },
    )


def _attribute(pairs: list[dict[str, Any]] | None, name: str, key: str) -> str | None:
    for pair in pairs or ():
        if pair.get(key) == name and pair.get("value"):
            return str(pair["value"]).strip()
    return None


def _graphql_item(node: dict[str, Any]) -> PurchaseItemRecord:
    return PurchaseItemRecord(
        external_id=numeric_id(node["id"]),
        title=str(node.get("title") or ""),
        quantity=int(node.get("quantity") or 0),
        price=_shop_money(node.get("originalUnitPriceSet")),
        sku=node.get("sku") or None,
        product_id=numeric_id((node.get("product") or {}).get("id") or "") or None,
        variant_id=numeric_id((node.get("variant") or {}).get("id") or "") or None,
    )


def order_from_graphql(
    node: dict[str, Any], options: KeyOptions, items: list[dict[str, Any]] | None = None
) -> PurchaseRecord:
    """A GraphQL Order node; ``items`` are its line items when they came as separate (bulk)
    lines rather than nested under ``lineItems``."""
    try:
        buyer = node.get("customer")
        keys = customer_contact(buyer, options)
        line_nodes = items if items is not None else (node.get("lineItems") or {}).get("nodes")
        return PurchaseRecord(
            external_id=numeric_id(node["id"]),
            name=str(node.get("name") or ""),
            created_at=_required_time(node.get("createdAt"), "createdAt"),
            updated_at=_required_time(node.get("updatedAt"), "updatedAt"),
            currency=str(node.get("currencyCode") or ""),
            total=_shop_money(node.get("totalPriceSet")),
            refunded_total=_shop_money(node.get("totalRefundedSet")),
            contact=Contact(
                email=node.get("email") or keys.email,
                phone=node.get("phone") or keys.phone,
                member_number=keys.member_number,
                line_user_id=_attribute(
                    node.get("customAttributes"), options.line_user_id_attribute, "key"
                ),
            ),
            customer_external_id=numeric_id(buyer["id"]) if buyer else None,
            financial_status=(node.get("displayFinancialStatus") or "").lower() or None,
            cancelled_at=parse_time(node.get("cancelledAt")),
            discount_codes=tuple(str(c) for c in node.get("discountCodes") or ()),
            items=tuple(_graphql_item(i) for i in line_nodes or ()),
            test=bool(node.get("test")),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise SkippableRecord(f"order {node.get('id')!r} is not usable: {exc!r}") from exc


# ---- REST shape (webhooks) ------------------------------------------------------------------


def customer_from_rest(payload: dict[str, Any], options: KeyOptions) -> CustomerRecord:
    """A ``customers/create|update`` webhook body."""
    tags = _tags(payload.get("tags"))
    return CustomerRecord(
        external_id=numeric_id(payload["id"]),
        updated_at=_required_time(payload.get("updated_at"), "updated_at"),
        contact=Contact(
            email=payload.get("email"),
            phone=payload.get("phone"),
            member_number=_member_number(options, tags, None),
        ),
        tags=tags,
    )


def _rest_refunded(payload: dict[str, Any]) -> Decimal:
    total = Decimal(0)
    for refund in payload.get("refunds") or ():
        for transaction in refund.get("transactions") or ():
            if transaction.get("kind", "refund") == "refund":
                total += _decimal(transaction.get("amount"))
    return total


def order_from_rest(payload: dict[str, Any], options: KeyOptions) -> PurchaseRecord:
    """An ``orders/*`` webhook body."""
    buyer = payload.get("customer") or None
    tags = _tags((buyer or {}).get("tags"))
    return PurchaseRecord(
        external_id=numeric_id(payload["id"]),
        name=str(payload.get("name") or ""),
        created_at=_required_time(payload.get("created_at"), "created_at"),
        updated_at=_required_time(payload.get("updated_at"), "updated_at"),
        currency=str(payload.get("currency") or ""),
        total=_decimal(payload.get("total_price")),
        refunded_total=_rest_refunded(payload),
        contact=Contact(
            email=payload.get("email") or (buyer or {}).get("email"),
            phone=payload.get("phone") or (buyer or {}).get("phone"),
            member_number=_member_number(options, tags, None),
            line_user_id=_attribute(
                payload.get("note_attributes"), options.line_user_id_attribute, "name"
            ),
        ),
        customer_external_id=numeric_id(buyer["id"]) if buyer and buyer.get("id") else None,
        financial_status=payload.get("financial_status") or None,
        cancelled_at=parse_time(payload.get("cancelled_at")),
        discount_codes=tuple(
            str(d.get("code")) for d in payload.get("discount_codes") or () if d.get("code")
        ),
        items=tuple(
            PurchaseItemRecord(
                external_id=numeric_id(item["id"]),
                title=str(item.get("title") or ""),
                quantity=int(item.get("quantity") or 0),
                price=_decimal(item.get("price")),
                sku=item.get("sku") or None,
                product_id=str(item["product_id"]) if item.get("product_id") else None,
                variant_id=str(item["variant_id"]) if item.get("variant_id") else None,
            )
            for item in payload.get("line_items") or ()
        ),
        test=bool(payload.get("test")),
    )
