"""Reads of campaigns for the admin API and the console."""

from __future__ import annotations

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from messaging.campaigns.models import Campaign, CampaignStatus


def campaigns(*, shop_id: int, status: CampaignStatus | None) -> Select[Campaign]:
    """A shop's campaigns, only those in ``status`` when given (the caller pages it)."""
    query = select(Campaign).where(Campaign.shop_id == shop_id)
    if status is not None:
        query = query.where(Campaign.status == status)
    return query


def of_pool(session: Session, *, shop_id: int, pool_id: int) -> list[Campaign]:
    """The shop's campaigns that hand out the pool's codes, by name."""
    return list(
        session.scalars(
            select(Campaign)
            .where(Campaign.shop_id == shop_id, Campaign.coupon_pool_id == pool_id)
            .order_by(Campaign.name)
        )
    )
