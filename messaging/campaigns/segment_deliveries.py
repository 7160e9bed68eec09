"""Segment deliveries: a campaign of kind ``segment`` sent once, at its time, to a frozen audience.

The beat task ``messaging.campaigns`` starts every scheduled segment campaign that is due. Start
is one transaction: the campaign becomes ``running`` with ``started_at``, and the segment's
members at that moment are frozen. One message for all (no variables, no tracked links) is an
audience send (``service.plan_audience``, keyed ``campaign:{id}``: batches of 500, multicast);
a personal template is a delivery row per friend, keyed ``campaign:{id}:{friend}`` (pushes). So a
friend who joins the segment later gets nothing, and a second start (a re-run, a concurrent
beat) plans nothing new. A running campaign with nothing left pending, sending or held is
marked ``completed``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Select, or_, select
from sqlalchemy.orm import Session

from commerce.coupons.assign import PoolTooSmall
from config import Settings
from connectors.line.client import ChannelCredentials
from connectors.line.sending import LineSender
from core import audit
from core.clock import utcnow
from core.tenancy import Channel
from messaging.campaigns import coupons
from messaging.campaigns.models import Campaign, CampaignKind, CampaignStatus
from messaging.compose import compose, templates
from messaging.outbox import service
from messaging.outbox.models import DeliveryState
from messaging.segments import segments

log = logging.getLogger(__name__)

ACTOR = "system:campaigns"
# What keeps a started campaign running; held rows wait for a person (quota), so they count.
_OPEN_STATES = (DeliveryState.PENDING, DeliveryState.SENDING, DeliveryState.HELD)


@dataclass(frozen=True, slots=True)
class Planned:
    """What starting a segment campaign planned, on either path."""

    planned: int
    suppressed: dict[str, int]
    held: bool
    # Started before: this call planned nothing new.
    duplicate: bool = False


@dataclass(slots=True)
class RunResult:
    started: dict[int, Planned] = field(default_factory=dict)
    paused: list[int] = field(default_factory=list)
    completed: list[int] = field(default_factory=list)


def run(session: Session, *, settings: Settings, now: datetime | None = None) -> RunResult:
    """Start the segment campaigns that are due, and complete those with nothing left to send."""
    now = now or utcnow()
    result = RunResult()
    due = session.scalars(
        select(Campaign)
        .where(
            Campaign.kind == CampaignKind.SEGMENT,
            Campaign.status == CampaignStatus.SCHEDULED,
            or_(Campaign.scheduled_at.is_(None), Campaign.scheduled_at <= now),
        )
        .order_by(Campaign.scheduled_at, Campaign.id)
        .with_for_update(skip_locked=True)
    ).all()
    for campaign in due:
        planned = start(session, campaign=campaign, settings=settings, now=now)
        if planned is None:
            result.paused.append(campaign.id)
        else:
            result.started[campaign.id] = planned
    result.completed = complete_finished(session, now=now)
    return result


def start(
    session: Session, *, campaign: Campaign, settings: Settings, now: datetime | None = None
) -> Planned | None:
    """Freeze the segment's audience into delivery rows and mark the campaign running.

    A segment that no longer exists, or a coupon pool with fewer ready codes than the audience
    has friends, pauses the campaign with the reason before anything is planned (returns
    None).
    """
    now = now or utcnow()
    channel = session.get_one(Channel, campaign.channel_id)
    name = campaign.trigger["segment"]
    segment = segments.find(session, shop_id=campaign.shop_id, name=name)
    if segment is None:
        campaign.status = CampaignStatus.PAUSED
        campaign.status_reason = f"segment {name!r} does not exist; save it, then schedule again"
        campaign.updated_at = now
        _audit(session, campaign, "campaign.paused", now, reason=campaign.status_reason)
        return None
    campaign.status = CampaignStatus.RUNNING
    campaign.status_reason = None
    campaign.started_at = now
    campaign.updated_at = now
    audience = segments.audience(session, segment=segment, channel=channel, now=now)
    try:
        result = plan_audience(
            session,
            campaign=campaign,
            channel=channel,
            audience=audience,
            settings=settings,
            now=now,
        )
    except PoolTooSmall as exc:
        campaign.status = CampaignStatus.PAUSED
        campaign.status_reason = str(exc)
        campaign.started_at = None
        _audit(session, campaign, "campaign.paused", now, reason=str(exc), missing=exc.missing)
        return None
    _audit(
        session,
        campaign,
        "campaign.started",
        now,
        segment=name,
        planned=result.planned,
        suppressed=sum(result.suppressed.values()),
        held=result.held,
    )
    return result


def plan_audience(
    session: Session,
    *,
    campaign: Campaign,
    channel: Channel,
    audience: Select[int],
    settings: Settings,
    now: datetime,
) -> Planned:
    """Plan the campaign's template for every friend the ``audience`` query selects."""
    sender = LineSender(
        ChannelCredentials(access_token=channel.access_token, api_url=settings.line_api_url)
    )
    try:
        if not templates.is_personal(campaign.messages):
            frozen = service.plan_audience(
                session,
                channel=channel,
                audience=audience,
                messages=campaign.messages,
                idempotency_key=campaign.source,
                source=campaign.source,
                due_at=now,
                quota_sender=sender,
                respect_quiet_hours=campaign.respect_quiet_hours,
                aggregation_unit=campaign.aggregation_unit,
                now=now,
            )
            if frozen.duplicate:
                return Planned(0, {}, held=False, duplicate=True)
            return Planned(frozen.planned, dict(frozen.suppressed), frozen.held)
        friend_ids = session.scalars(audience).all()
        # Each friend's code (the same ones when a start is retried).
        codes = coupons.codes_for(
            session, campaign, dict.fromkeys(friend_ids, campaign.source), now
        )
        send = compose.TemplateSend(
            channel=channel,
            template=campaign.messages,
            source=campaign.source,
            links=compose.Links(public_url=settings.public_url, tag=campaign.click_tag),
            due_at=now,
            values={"coupon_code": campaign.coupon_code} if campaign.coupon_code else {},
            values_for=coupons.values_for(codes),
            respect_quiet_hours=campaign.respect_quiet_hours,
            aggregation_unit=campaign.aggregation_unit,
            quota_sender=sender,
        )
        rows = compose.plan_template(
            session,
            send,
            friend_ids=friend_ids,
            idempotency_key_for=lambda friend_id: f"{campaign.source}:{friend_id}",
            now=now,
        )
        duplicate = rows.created == 0 and rows.duplicates > 0
        return Planned(rows.planned, dict(rows.suppressed), bool(rows.held), duplicate)
    finally:
        sender.close()


def complete_finished(session: Session, *, now: datetime | None = None) -> list[int]:
    """Mark running segment campaigns with no pending, sending or held row ``completed``."""
    now = now or utcnow()
    running = session.scalars(
        select(Campaign).where(
            Campaign.kind == CampaignKind.SEGMENT, Campaign.status == CampaignStatus.RUNNING
        )
    ).all()
    finished = [
        campaign
        for campaign in running
        if not any(
            count
            for state, count in service.counts_by_state(session, source=campaign.source).items()
            if state in _OPEN_STATES
        )
    ]
    for campaign in finished:
        campaign.status = CampaignStatus.COMPLETED
        campaign.finished_at = now
        campaign.updated_at = now
        _audit(session, campaign, "campaign.completed", now)
    return [c.id for c in finished]


def _audit(
    session: Session, campaign: Campaign, action: str, now: datetime, **details: Any
) -> None:
    audit.record(
        session,
        shop_id=campaign.shop_id,
        actor=ACTOR,
        action=action,
        subject_type="campaign",
        subject_id=campaign.id,
        now=now,
        **details,
    )
