"""Campaigns: declare (create or update by name), preview, start, pause, resume, cancel, report."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from api.admin.auth import Actor
from api.admin.pagination import DEFAULT_LIMIT, Cursor, Limit
from api.admin.schemas import NAME_MISMATCH, ErrorBody, OpenApiResponses, Page, require_path_name
from api.deps import AppSettings, CurrentShop, DbSession
from commerce.coupons.schemas import ReportOut as CouponReportOut
from connectors.line.client import ChannelCredentials
from connectors.line.sending import LineSender
from core.ids import RowId
from core.pagination import fetch_page
from core.tenancy import Channel
from idlink import service as idlink_service
from messaging.campaigns import campaigns, previews, queries, reports
from messaging.campaigns.models import Campaign, CampaignStatus
from messaging.campaigns.schemas import CampaignSpec
from messaging.outbox import queries as outbox_queries
from messaging.outbox.models import Delivery, DeliveryState

router = APIRouter(tags=["campaigns"])

_NOT_FOUND: OpenApiResponses = {
    404: {"model": ErrorBody, "description": "No such campaign in this shop"}
}
_CONFLICT: OpenApiResponses = {
    409: {"model": ErrorBody, "description": "Not possible from the current status"}
}


class CampaignOut(BaseModel):
    id: int
    name: str
    kind: str
    status: str
    status_reason: str | None
    source: str = Field(description="The `source` of its deliveries (`GET /deliveries?source=`).")
    spec: dict[str, Any] = Field(description="The campaign as declared (`PUT` takes it back).")
    created_at: datetime
    updated_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


class AttributionOut(BaseModel):
    purchases: int
    revenue: dict[str, str] = Field(description="Per currency, net of refunds, as decimal text.")


class ReportOut(BaseModel):
    """What the campaign did so far."""

    campaign_id: int
    name: str
    status: str
    planned: int = Field(description="Deliveries created, whatever became of them.")
    by_state: dict[str, int]
    suppressed: dict[str, int] = Field(description="Suppressed deliveries by reason.")
    sent: int
    failed: int
    failed_reasons: dict[str, int]
    uncertain: int = Field(
        description="Replies LINE may or may not have delivered: a try got no answer (its worker "
        "stopped) and the reply token was then refused when it could also have expired."
    )
    clicked: int = Field(description="Friends who clicked at least one tracked link.")
    clicks: int
    attribution_days: int
    after_delivery: AttributionOut = Field(
        description="Purchases within `attribution_days` after a message was sent."
    )
    after_click: AttributionOut = Field(
        description="Purchases within `attribution_days` after a click on a tracked link."
    )
    coupons: CouponReportOut | None = Field(
        None,
        description="Campaigns with a coupon pool: codes given (issued), used by an order "
        "(redeemed), rate, those orders' revenue, median hours to redeem.",
    )


class SampleRecipient(BaseModel):
    friend_id: int
    display_name: str | None
    status: str


class DeliveryOut(BaseModel):
    id: int
    friend_id: int
    source: str
    state: str
    reason: str | None
    due_at: datetime
    next_attempt_at: datetime
    attempts: int
    request_id: str | None
    sent_at: datetime | None


def _out(session: Session, campaign: Campaign) -> CampaignOut:
    channel = session.get(Channel, campaign.channel_id)
    assert channel is not None
    return CampaignOut(
        id=campaign.id,
        name=campaign.name,
        kind=campaign.kind,
        status=campaign.status,
        status_reason=campaign.status_reason,
        source=campaign.source,
        spec=campaigns.spec_of(campaign, channel),
        created_at=campaign.created_at,
        updated_at=campaign.updated_at,
        started_at=campaign.started_at,
        finished_at=campaign.finished_at,
    )


@router.get("/campaigns", summary="List campaigns")
def list_campaigns(
    session: DbSession,
    shop: CurrentShop,
    status: CampaignStatus | None = Query(None, description="Only campaigns in this status."),
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> Page[CampaignOut]:
    """The shop's campaigns, newest first."""
    query = queries.campaigns(shop_id=shop.id, status=status)
    found, next_cursor = fetch_page(session, query, Campaign.id, limit=limit, cursor=cursor)
    return Page(items=[_out(session, c) for c in found], next_cursor=next_cursor)


@router.put(
    "/campaigns/{name}",
    summary="Create or update a campaign",
    responses={
        **NAME_MISMATCH,
        422: {"model": ErrorBody, "description": "Invalid spec or template, and why"},
    },
)
def put_campaign(
    name: str, body: CampaignSpec, session: DbSession, shop: CurrentShop, actor: Actor
) -> CampaignOut:
    """Declare the campaign ``name``: created as a draft, or brought up to ``body``.

    The template is checked now (variables, 1 to 5 messages, text at most 5,000 UTF-16 units
    with every variable at its longest), so a campaign never fails at send time for its content.
    """
    require_path_name(name, body)
    channel = idlink_service.shop_channel(session, shop=shop, line_channel_id=body.channel)
    campaign = campaigns.save(session, shop_id=shop.id, channel=channel, spec=body, actor=actor)
    return _out(session, campaign)


@router.get("/campaigns/{campaign_id}", summary="Get a campaign", responses=_NOT_FOUND)
def get_campaign(campaign_id: RowId, session: DbSession, shop: CurrentShop) -> CampaignOut:
    return _out(session, campaigns.get(session, shop_id=shop.id, campaign_id=campaign_id))


def _transition(
    session: Session, shop_id: int, campaign_id: int, status: CampaignStatus, actor: str
) -> CampaignOut:
    campaign = campaigns.get(session, shop_id=shop_id, campaign_id=campaign_id)
    campaigns.set_status(session, campaign=campaign, status=status, actor=actor)
    return _out(session, campaign)


@router.post(
    "/campaigns/{campaign_id}/activate",
    summary="Start a trigger campaign",
    responses={**_NOT_FOUND, **_CONFLICT},
)
def activate(
    campaign_id: RowId, session: DbSession, shop: CurrentShop, actor: Actor
) -> CampaignOut:
    """A purchase, lapsed or birthday campaign starts reacting to what happens from now on."""
    return _transition(session, shop.id, campaign_id, CampaignStatus.ACTIVE, actor)


@router.post(
    "/campaigns/{campaign_id}/schedule",
    summary="Schedule a segment campaign",
    responses={**_NOT_FOUND, **_CONFLICT},
)
def schedule(
    campaign_id: RowId, session: DbSession, shop: CurrentShop, actor: Actor
) -> CampaignOut:
    """A segment campaign starts at its ``scheduled_at`` (at once when that has passed)."""
    return _transition(session, shop.id, campaign_id, CampaignStatus.SCHEDULED, actor)


@router.post(
    "/campaigns/{campaign_id}/run",
    summary="Send a segment campaign now",
    responses={**_NOT_FOUND, **_CONFLICT},
)
def run_now(campaign_id: RowId, session: DbSession, shop: CurrentShop, actor: Actor) -> CampaignOut:
    """Start a draft or scheduled segment campaign now rather than at its ``scheduled_at``."""
    campaign = campaigns.get(session, shop_id=shop.id, campaign_id=campaign_id)
    campaigns.run_now(session, campaign=campaign, actor=actor)
    return _out(session, campaign)


@router.post(
    "/campaigns/{campaign_id}/pause", summary="Pause", responses={**_NOT_FOUND, **_CONFLICT}
)
def pause(campaign_id: RowId, session: DbSession, shop: CurrentShop, actor: Actor) -> CampaignOut:
    """Stop reacting and hold what it planned but has not handed to LINE."""
    return _transition(session, shop.id, campaign_id, CampaignStatus.PAUSED, actor)


@router.post(
    "/campaigns/{campaign_id}/resume", summary="Resume", responses={**_NOT_FOUND, **_CONFLICT}
)
def resume(campaign_id: RowId, session: DbSession, shop: CurrentShop, actor: Actor) -> CampaignOut:
    """Undo a pause: held deliveries go (those that fell due meanwhile at once)."""
    campaign = campaigns.get(session, shop_id=shop.id, campaign_id=campaign_id)
    campaigns.resume(session, campaign=campaign, actor=actor)
    return _out(session, campaign)


@router.post(
    "/campaigns/{campaign_id}/cancel", summary="Cancel", responses={**_NOT_FOUND, **_CONFLICT}
)
def cancel(campaign_id: RowId, session: DbSession, shop: CurrentShop, actor: Actor) -> CampaignOut:
    """Stop for good; what was not handed to LINE is cancelled (already sent stays sent)."""
    return _transition(session, shop.id, campaign_id, CampaignStatus.CANCELLED, actor)


@router.get("/campaigns/{campaign_id}/report", summary="Campaign report", responses=_NOT_FOUND)
def report(campaign_id: RowId, session: DbSession, shop: CurrentShop) -> ReportOut:
    """Planned, suppressed by reason, sent, failed, clicked, and purchases attributed to LINE."""
    campaign = campaigns.get(session, shop_id=shop.id, campaign_id=campaign_id)
    figures = reports.campaign_report(session, campaign=campaign)
    return ReportOut(
        **{
            name: getattr(figures, name)
            for name in ReportOut.model_fields
            if name not in ("after_delivery", "after_click", "coupons")
        },
        after_delivery=_attribution(figures.after_delivery),
        after_click=_attribution(figures.after_click),
        coupons=CouponReportOut.of(figures.coupons) if figures.coupons else None,
    )


def _attribution(figures: reports.Attribution) -> AttributionOut:
    return AttributionOut(
        purchases=figures.purchases,
        revenue={currency: str(amount) for currency, amount in figures.revenue.items()},
    )


class QuotaOut(BaseModel):
    needed: int
    remaining: int | None = Field(description="This month's quota left, less what is queued.")
    fits: bool
    reason: str | None = Field(description="Why it would be held, when it would.")


class PreviewOut(BaseModel):
    """What the campaign would do if it started now."""

    count: int | None = Field(
        description="Friends it would reach now (segment campaigns; null for triggered ones)."
    )
    sample: list[SampleRecipient]
    messages: list[dict[str, Any]] = Field(
        description="The template as the first sample friend would read it."
    )
    quota: QuotaOut | None


@router.get("/campaigns/{campaign_id}/preview", summary="Preview a campaign", responses=_NOT_FOUND)
def preview(
    campaign_id: RowId,
    session: DbSession,
    shop: CurrentShop,
    settings: AppSettings,
    size: int = Query(10, ge=0, le=200, description="How many sample friends to show."),
) -> PreviewOut:
    """Count, sample recipients, the rendered messages, and whether the month's quota holds it."""
    campaign = campaigns.get(session, shop_id=shop.id, campaign_id=campaign_id)
    channel = session.get_one(Channel, campaign.channel_id)
    credentials = ChannelCredentials(
        access_token=channel.access_token, api_url=settings.line_api_url
    )
    sender = LineSender(credentials)
    try:
        found = previews.preview(session, campaign=campaign, quota_sender=sender, size=size)
    finally:
        sender.close()
    quota = None
    if found.quota is not None:
        quota = QuotaOut(
            needed=found.quota.needed,
            remaining=found.quota.remaining,
            fits=found.quota.fits,
            reason=None if found.quota.fits else found.quota.reason,
        )
    return PreviewOut(
        count=found.count,
        sample=[
            SampleRecipient(friend_id=r.friend_id, display_name=r.display_name, status=r.status)
            for r in found.sample
        ],
        messages=found.messages,
        quota=quota,
    )


@router.get("/deliveries", summary="List deliveries")
def list_deliveries(
    session: DbSession,
    shop: CurrentShop,
    source: str | None = Query(None, description="e.g. `campaign:12`, `reminder:3`."),
    state: DeliveryState | None = Query(None),
    friend_id: RowId | None = Query(None),
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> Page[DeliveryOut]:
    """The shop's outbox, newest first, filtered by source, state and friend."""
    query = outbox_queries.deliveries(
        shop_id=shop.id, source=source, state=state, friend_id=friend_id
    )
    found, next_cursor = fetch_page(session, query, Delivery.id, limit=limit, cursor=cursor)
    return Page(
        items=[DeliveryOut.model_validate(d, from_attributes=True) for d in found],
        next_cursor=next_cursor,
    )
