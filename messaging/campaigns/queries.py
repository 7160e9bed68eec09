"""Reads of campaigns for the admin API."""

from __future__ import annotations

from sqlalchemy import Select, select

from messaging.campaigns.models import Campaign, CampaignStatus


def campaigns(*, shop_id: int, status: CampaignStatus | None) -> Select[Campaign]:
    """A shop's campaigns, only those in ``status`` when given (the caller pages it)."""
    query = select(Campaign).where(Campaign.shop_id == shop_id)
    if status is not None:
        query = query.where(Campaign.status == status)
    return query
