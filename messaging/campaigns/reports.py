"""What a campaign did: planned, suppressed (by reason), sent, failed, clicked, purchases, and
the coupon codes it gave that orders used (campaigns with a coupon pool).

Purchases are attributed to LINE when a friend's linked member ordered within the campaign's
``attribution_days`` after the message was sent to them (``after_delivery``) or after their
first click on one of its tracked links (``after_click``; a subset of the former when the click
followed the message, as it does). Cancelled and test orders do not count; refunds are deducted.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Integer, Select, cast, distinct, func, select, true, union_all
from sqlalchemy.orm import Session

from commerce.coupons import queries as coupon_queries
from commerce.coupons.queries import CouponReport
from commerce.models import Purchase
from idlink.models import MemberLink
from messaging.campaigns.models import Campaign
from messaging.compose.models import TrackedLink
from messaging.outbox import service
from messaging.outbox.models import AudienceSend, BatchState, Delivery, DeliveryBatch, DeliveryState
from messaging.outbox.sql import is_postgres, plus_days


@dataclass(slots=True)
class Attribution:
    """Purchases after LINE touched the buyer, with revenue per currency (net of refunds)."""

    purchases: int = 0
    revenue: dict[str, Decimal] = field(default_factory=dict)


@dataclass(slots=True)
class CampaignReport:
    campaign_id: int
    name: str
    status: str
    planned: int
    by_state: dict[str, int]
    suppressed: dict[str, int]
    sent: int
    failed: int
    failed_reasons: dict[str, int]
    # Replies LINE may or may not have delivered (a worker died mid-try; see the outcome table).
    uncertain: int
    clicked: int
    clicks: int
    attribution_days: int
    after_delivery: Attribution
    after_click: Attribution
    # Its coupon pool's codes given and used (campaigns with a pool).
    coupons: CouponReport | None = None


@dataclass(slots=True)
class SourceFigures:
    """Deliveries of some sources by state, and the reasons of those suppressed and failed."""

    by_state: dict[str, int]
    suppressed: dict[str, int]
    failed: dict[str, int]


def source_figures(
    session: Session, *, shop_id: int, source: str | None = None, source_prefix: str | None = None
) -> SourceFigures:
    """The figures of the deliveries of ``source``, or of every source starting with
    ``source_prefix`` (a reminder rule's, one source per booking)."""
    if (source is None) == (source_prefix is None):
        raise ValueError("give a source or a source prefix")
    matches = (
        Delivery.source == source
        if source is not None
        else Delivery.source.startswith(source_prefix, autoescape=True)
    )
    return _figures(session, Delivery.shop_id == shop_id, matches)


def _figures(session: Session, *where: Any) -> SourceFigures:
    return SourceFigures(
        by_state=_count_by(session, Delivery.state, *where),
        suppressed=_count_by(
            session, Delivery.reason, *where, Delivery.state == DeliveryState.SUPPRESSED
        ),
        failed=_count_by(session, Delivery.reason, *where, Delivery.state == DeliveryState.FAILED),
    )


def campaign_report(session: Session, *, campaign: Campaign) -> CampaignReport:
    """The campaign's figures, counted from its deliveries and audience sends, its links and
    the shop's purchases."""
    source = campaign.source
    figures = source_figures(session, shop_id=campaign.shop_id, source=source)
    by_state = service.counts_by_state(session, source=source)
    suppressed = service.suppressed_by_reason(session, source=source)
    failed = Counter(figures.failed)
    failed.update(_audience_failures(session, source))
    clicked, clicks = session.execute(
        select(
            func.count(distinct(TrackedLink.friend_id)).filter(
                TrackedLink.first_clicked_at.is_not(None)
            ),
            func.coalesce(func.sum(TrackedLink.clicks), 0),
        ).where(TrackedLink.source == source)
    ).one()
    days = campaign.attribution_days
    sent_to = union_all(
        select(Delivery.friend_id, Delivery.sent_at.label("touched_at")).where(
            Delivery.source == source, Delivery.state == DeliveryState.SENT
        ),
        _audience_sent(session, source),
    ).subquery()
    clicked_on = (
        select(TrackedLink.friend_id, func.min(TrackedLink.first_clicked_at).label("touched_at"))
        .where(TrackedLink.source == source, TrackedLink.first_clicked_at.is_not(None))
        .group_by(TrackedLink.friend_id)
        .subquery()
    )
    return CampaignReport(
        campaign_id=campaign.id,
        name=campaign.name,
        status=campaign.status,
        planned=sum(by_state.values()),
        by_state=by_state,
        suppressed=suppressed,
        sent=by_state.get(DeliveryState.SENT, 0),
        failed=by_state.get(DeliveryState.FAILED, 0),
        failed_reasons=dict(failed),
        uncertain=by_state.get(DeliveryState.UNCERTAIN, 0),
        clicked=clicked or 0,
        clicks=int(clicks or 0),
        attribution_days=days,
        after_delivery=_attributed(session, campaign.shop_id, sent_to, days),
        after_click=_attributed(session, campaign.shop_id, clicked_on, days),
        coupons=(
            coupon_queries.campaign_report(session, campaign_id=campaign.id)
            if campaign.coupon_pool_id is not None
            else None
        ),
    )


def _audience_sent(session: Session, source: str) -> Select[int, datetime | None]:
    """(friend id, sent at) of every friend reached by the source's audience sends."""
    sent = (
        DeliveryBatch.state == BatchState.SENT,
        AudienceSend.source == source,
    )
    if is_postgres(session):
        member = func.unnest(DeliveryBatch.friend_ids)
        return (
            select(member.label("friend_id"), DeliveryBatch.sent_at.label("touched_at"))
            .join(AudienceSend, AudienceSend.id == DeliveryBatch.audience_send_id)
            .where(*sent)
        )
    members = func.json_each(DeliveryBatch.friend_ids).table_valued("value")
    return (
        select(
            cast(members.c.value, Integer).label("friend_id"),
            DeliveryBatch.sent_at.label("touched_at"),
        )
        .select_from(DeliveryBatch)
        .join(AudienceSend, AudienceSend.id == DeliveryBatch.audience_send_id)
        .join(members, true())
        .where(*sent)
    )


def _audience_failures(session: Session, source: str) -> dict[str, int]:
    """Friends of the source's audience batches LINE refused for good, by LINE's reason."""
    rows = session.execute(
        select(DeliveryBatch.last_error, func.sum(DeliveryBatch.recipients))
        .join(AudienceSend, AudienceSend.id == DeliveryBatch.audience_send_id)
        .where(AudienceSend.source == source, DeliveryBatch.state == BatchState.FAILED)
        .group_by(DeliveryBatch.last_error)
    )
    return {str(reason): int(count or 0) for reason, count in rows}


def _count_by(session: Session, column: Any, *where: Any) -> dict[str, int]:
    rows = session.execute(select(column, func.count()).where(*where).group_by(column))
    return {str(key): count for key, count in rows}


def _attributed(session: Session, shop_id: int, touched: Any, days: int) -> Attribution:
    """Purchases by a touched friend's member within ``days`` after any touch, each once."""
    after_a_touch = (
        select(touched.c.friend_id)
        .join(MemberLink, MemberLink.friend_id == touched.c.friend_id)
        .where(
            MemberLink.shop_id == shop_id,
            MemberLink.member_id == Purchase.member_id,
            Purchase.ordered_at >= touched.c.touched_at,
            Purchase.ordered_at < plus_days(session, touched.c.touched_at, days),
        )
        .exists()
    )
    rows = session.execute(
        select(Purchase.currency, func.count(), func.sum(Purchase.total - Purchase.refunded_total))
        .where(
            Purchase.shop_id == shop_id,
            Purchase.member_id.is_not(None),
            Purchase.cancelled_at.is_(None),
            Purchase.test.is_(False),
            after_a_touch,
        )
        .group_by(Purchase.currency)
    )
    result = Attribution()
    for currency, count, revenue in rows:
        result.purchases += count
        result.revenue[currency] = Decimal(revenue or 0)
    return result
