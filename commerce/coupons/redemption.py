"""Redemption: an order that used a pool's code marks that code redeemed by the order.

Called by both ways orders arrive (webhooks and syncs, one by one or a page at a time), so a
code is matched whichever comes first; Shopify compares codes without regard to case, and so
does the match. The first order that used a code keeps it.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from commerce.coupons.models import CouponCode


def match(
    session: Session, *, shop_id: int, orders: Iterable[tuple[int, list[str], datetime]]
) -> int:
    """Mark the codes these orders used — ``(purchase id, discount codes, ordered at)`` each —
    redeemed; returns how many codes were newly matched."""
    used: dict[str, tuple[int, datetime]] = {}
    for purchase_id, codes, ordered_at in orders:
        for code in codes or ():
            key = str(code).strip().upper()
            if key and key not in used:
                used[key] = (purchase_id, ordered_at)
    if not used:
        return 0
    found = session.execute(
        select(CouponCode.id, CouponCode.code_key).where(
            CouponCode.shop_id == shop_id,
            CouponCode.code_key.in_(list(used)),
            CouponCode.purchase_id.is_(None),
        )
    ).all()
    if found:
        session.execute(
            update(CouponCode),
            [
                {"id": code_id, "purchase_id": used[key][0], "redeemed_at": used[key][1]}
                for code_id, key in found
            ],
        )
    return len(found)
