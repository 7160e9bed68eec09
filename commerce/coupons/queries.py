"""What the console and the admin API read about coupon pools: the pools with their code
counts, and a redemption report for a pool or for one campaign's codes."""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from commerce.coupons.filling import FillProgress, progress_of
from commerce.coupons.models import CouponCode, CouponPool
from commerce.models import Connection, Purchase
from idlink.models import Friend


@dataclass(frozen=True, slots=True)
class CouponReport:
    """Codes given to friends, how many an order used, what those orders brought in (net of
    refunds, cancelled orders left out) and the median time from the code to the order."""

    issued: int
    redeemed: int
    revenue: dict[str, Decimal] = field(default_factory=dict)
    median_hours_to_redeem: float | None = None

    @property
    def rate(self) -> float:
        return self.redeemed / self.issued if self.issued else 0.0


@dataclass(frozen=True, slots=True)
class PoolRow:
    pool: CouponPool
    codes: FillProgress
    free: int
    report: CouponReport


def pools(session: Session, *, shop_id: int) -> list[PoolRow]:
    """The shop's pools by name, each with its codes by state and its report."""
    found = session.scalars(
        select(CouponPool).where(CouponPool.shop_id == shop_id).order_by(CouponPool.name)
    ).all()
    return [pool_row(session, pool) for pool in found]


def pool_row(session: Session, pool: CouponPool) -> PoolRow:
    progress = progress_of(session, pool.id)
    report_ = report(session, CouponCode.pool_id == pool.id)
    return PoolRow(pool, progress, progress.ready - report_.issued, report_)


def by_campaign(session: Session, *, pool_id: int) -> dict[int, CouponReport]:
    """The pool's report per campaign that handed out its codes (campaign id → report)."""
    ids = session.scalars(
        select(CouponCode.campaign_id)
        .where(CouponCode.pool_id == pool_id, CouponCode.campaign_id.is_not(None))
        .distinct()
    ).all()
    return {
        campaign_id: report(
            session, CouponCode.pool_id == pool_id, CouponCode.campaign_id == campaign_id
        )
        for campaign_id in ids
        if campaign_id is not None
    }


def campaign_report(session: Session, *, campaign_id: int) -> CouponReport:
    return report(session, CouponCode.campaign_id == campaign_id)


def report(session: Session, *where: ColumnElement[bool]) -> CouponReport:
    """The report over the codes matching ``where`` that were given to a friend."""
    given = (*where, CouponCode.friend_id.is_not(None))
    issued = int(session.scalar(select(func.count()).where(*given)) or 0)
    rows = session.execute(
        select(
            CouponCode.assigned_at,
            CouponCode.redeemed_at,
            Purchase.currency,
            Purchase.total,
            Purchase.refunded_total,
            Purchase.cancelled_at,
        )
        .join(Purchase, Purchase.id == CouponCode.purchase_id)
        .where(*given)
    ).all()
    revenue: dict[str, Decimal] = {}
    hours: list[float] = []
    for assigned_at, redeemed_at, currency, total, refunded, cancelled_at in rows:
        if cancelled_at is None:
            revenue[currency] = revenue.get(currency, Decimal(0)) + total - (refunded or 0)
        if assigned_at is not None and redeemed_at is not None:
            hours.append(_hours(assigned_at, redeemed_at))
    return CouponReport(
        issued=issued,
        redeemed=len(rows),
        revenue=revenue,
        median_hours_to_redeem=round(statistics.median(hours), 1) if hours else None,
    )


def codes_of(session: Session, *, pool_id: int, limit: int = 50) -> list[dict[str, Any]]:
    """The pool's most recently given codes, with their friend and order."""
    rows = session.execute(
        select(
            CouponCode.code,
            CouponCode.friend_id,
            Friend.display_name,
            CouponCode.assigned_at,
            CouponCode.redeemed_at,
            Purchase.name,
        )
        .join(Friend, Friend.id == CouponCode.friend_id)
        .outerjoin(Purchase, Purchase.id == CouponCode.purchase_id)
        .where(CouponCode.pool_id == pool_id, CouponCode.friend_id.is_not(None))
        .order_by(CouponCode.assigned_at.desc(), CouponCode.id.desc())
        .limit(limit)
    )
    return [
        {
            "code": code,
            "friend_id": friend_id,
            "display_name": display_name,
            "assigned_at": assigned_at,
            "redeemed_at": redeemed_at,
            "order": order,
        }
        for code, friend_id, display_name, assigned_at, redeemed_at, order in rows
    ]


def shopify_connections(session: Session, *, shop_id: int) -> list[tuple[int, str]]:
    """The shop's Shopify connections a pool can live on: (id, name)."""
    rows = session.execute(
        select(Connection.id, Connection.name)
        .where(Connection.shop_id == shop_id, Connection.kind == "shopify")
        .order_by(Connection.id)
    )
    return [(connection_id, name) for connection_id, name in rows]


def _hours(start: datetime, end: datetime) -> float:
    return max(0.0, (end - start).total_seconds() / 3600)
