"""What a purchase trigger reads of a purchase: whether it still counts, the buyer's friend on
the channel, what it holds, and which of the member's purchases it is."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection
from datetime import datetime, timedelta

from sqlalchemy import and_, select
from sqlalchemy.orm import Session

from commerce.models import ProductGroup, ProductGroupMember, Purchase, PurchaseItem
from messaging.compose import cursors
from messaging.compose.schemas import PurchaseTrigger
from messaging.outbox.sql import any_of


def is_void(purchase: Purchase) -> bool:
    """Cancelled, or refunded in full (a free order is not "refunded")."""
    fully_refunded = purchase.total > 0 and purchase.refunded_total >= purchase.total
    return purchase.cancelled_at is not None or fully_refunded


def matching(
    session: Session,
    *,
    trigger: PurchaseTrigger,
    channel_id: int,
    purchases: list[Purchase],
    now: datetime,
) -> list[tuple[Purchase, int]]:
    """The purchases that meet ``trigger``, each with the followed friend of ``channel_id`` its
    buyer is linked to (recent, not a test order, every condition holding)."""
    candidates = _recent(trigger, purchases, now)
    friends = cursors.followed_friends(
        session,
        channel_id=channel_id,
        member_ids={p.member_id for p in candidates if p.member_id is not None},
    )
    friend_of = {p.id: friends[p.member_id] for p in candidates if p.member_id in friends}
    candidates = [p for p in candidates if p.id in friend_of]
    met = meeting(session, trigger=trigger, purchases=candidates, now=now)
    return [(p, friend_of[p.id]) for p in met]


def _recent(trigger: PurchaseTrigger, purchases: list[Purchase], now: datetime) -> list[Purchase]:
    oldest = now - timedelta(hours=trigger.max_age_hours)
    return [
        p for p in purchases if p.member_id is not None and not p.test and p.ordered_at >= oldest
    ]


def meeting(
    session: Session, *, trigger: PurchaseTrigger, purchases: list[Purchase], now: datetime
) -> list[Purchase]:
    """The purchases of members that meet every condition of ``trigger`` (recent, not a test
    order, the total, the products bought, the member's n-th purchase)."""
    candidates = _recent(trigger, purchases, now)
    if trigger.min_total is not None:
        candidates = [p for p in candidates if p.total >= trigger.min_total]
    if trigger.skus or trigger.product_ids or trigger.collections:
        bought = items_of(
            session, [p.id for p in candidates], collections=bool(trigger.collections)
        )
        wanted = (
            {("sku", s) for s in trigger.skus}
            | {("product", p) for p in trigger.product_ids}
            | {("collection", c) for c in trigger.collections}
        )
        candidates = [p for p in candidates if bought.get(p.id, set()) & wanted]
    if trigger.purchase_number is not None:
        numbers = purchase_numbers(session, candidates)
        candidates = [p for p in candidates if numbers[p.id] == trigger.purchase_number]
    return candidates


def items_of(
    session: Session, purchase_ids: Collection[int], *, collections: bool = False
) -> dict[int, set[tuple[str, str]]]:
    """purchase id → {("sku", …), ("product", …)} of its lines, and with ``collections`` the
    ("collection", handle) of every collection of its store that holds one of its products."""
    bought: dict[int, set[tuple[str, str]]] = defaultdict(set)
    if not purchase_ids:
        return bought
    if collections:
        rows = session.execute(
            select(PurchaseItem.purchase_id, ProductGroup.handle)
            .join(Purchase, Purchase.id == PurchaseItem.purchase_id)
            .join(ProductGroupMember, ProductGroupMember.product_id == PurchaseItem.product_id)
            .join(
                ProductGroup,
                and_(
                    ProductGroup.id == ProductGroupMember.group_id,
                    ProductGroup.connection_id == Purchase.connection_id,
                ),
            )
            .where(any_of(session, PurchaseItem.purchase_id, purchase_ids))
        )
        for purchase_id, handle in rows:
            bought[purchase_id].add(("collection", handle))
    items = session.execute(
        select(PurchaseItem.purchase_id, PurchaseItem.sku, PurchaseItem.product_id).where(
            any_of(session, PurchaseItem.purchase_id, purchase_ids)
        )
    )
    for purchase_id, sku, product_id in items:
        if sku:
            bought[purchase_id].add(("sku", sku))
        if product_id:
            bought[purchase_id].add(("product", product_id))
    return bought


def purchase_numbers(session: Session, purchases: list[Purchase]) -> dict[int, int]:
    """purchase id → its rank among its member's purchases (1: the first), across connectors.

    Cancelled and test orders do not count: a customer whose first order was cancelled makes
    their first purchase with the next one.
    """
    members = {p.member_id for p in purchases if p.member_id is not None}
    if not members:
        return {}
    rows = session.execute(
        select(Purchase.member_id, Purchase.ordered_at, Purchase.id).where(
            any_of(session, Purchase.member_id, members),
            Purchase.cancelled_at.is_(None),
            Purchase.test.is_(False),
        )
    )
    history: dict[int | None, list[tuple[datetime, int]]] = defaultdict(list)
    for member_id, ordered_at, purchase_id in rows:
        history[member_id].append((ordered_at, purchase_id))
    numbers = {}
    for purchase in purchases:
        earlier = history[purchase.member_id or 0]
        numbers[purchase.id] = sum(1 for o in earlier if o <= (purchase.ordered_at, purchase.id))
    return numbers
