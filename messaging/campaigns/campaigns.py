"""Campaigns: saved from a spec (template checked then, not at send time), paused, cancelled.

A campaign's deliveries carry the source ``campaign:{id}``. Caps given on the campaign become the
send policy of that source prefix, which the planner and the dispatcher already apply.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from commerce.coupons import pools as coupon_pools
from core import audit
from core.clock import utcnow
from core.enqueue import enqueue_after_commit
from core.errors import Conflict, NotFound
from core.tenancy import Channel
from idlink import tagging
from messaging.campaigns.models import Campaign, CampaignKind, CampaignStatus
from messaging.campaigns.schemas import CampaignSpec
from messaging.compose import compose, templates
from messaging.outbox import guardrails, service
from messaging.outbox.models import SendPolicy
from messaging.segments import segments

# Fields a spec sets directly on the row (the rest are derived: channel, caps, trigger).
_FIELDS = (
    "kind",
    "messages",
    "scheduled_at",
    "respect_quiet_hours",
    "coupon_code",
    "click_tag",
    "aggregation_unit",
    "attribution_days",
)


PAUSED_REASON = "campaign paused"


class CampaignNotFound(NotFound):
    """No campaign of that name or id in this shop."""


class CampaignStateConflict(Conflict):
    """The campaign cannot move to that status from the one it has."""


def available_variables(kind: str, *, coupon: bool, pool: bool = False) -> frozenset[str]:
    """The template variables a campaign of ``kind`` knows (``coupon``: a static code;
    ``pool``: a coupon pool's code per friend)."""
    names = set(templates.FRIEND_VARIABLES)
    if coupon:
        names.add("coupon_code")
    if pool:
        names.add("coupon")
    return frozenset(names)


def is_enabled(campaign: Campaign) -> bool:
    """Whether the campaign runs (or will, at its time): what a spec's ``enabled`` declares."""
    return campaign.status in _RUNNING


def spec_of(campaign: Campaign, channel: Channel) -> dict[str, Any]:
    """The campaign as a spec (JSON-ready), the form ``save`` takes and files declare."""
    caps = None
    if campaign.per_day is not None or campaign.per_week is not None:
        caps = {"per_day": campaign.per_day, "per_week": campaign.per_week}
    return CampaignSpec(
        name=campaign.name,
        channel=channel.line_channel_id,
        kind=CampaignKind(campaign.kind),
        trigger=campaign.trigger,
        messages=campaign.messages,
        delay=campaign.delay,
        scheduled_at=campaign.scheduled_at,
        respect_quiet_hours=campaign.respect_quiet_hours,
        caps=caps,
        coupon_code=campaign.coupon_code,
        coupon_pool=campaign.coupon_pool.name if campaign.coupon_pool else None,
        click_tag=campaign.click_tag,
        aggregation_unit=campaign.aggregation_unit,
        attribution_days=campaign.attribution_days,
        enabled=is_enabled(campaign),
    ).model_dump(mode="json", exclude_defaults=True)


def save(
    session: Session,
    *,
    shop_id: int,
    channel: Channel,
    spec: CampaignSpec,
    actor: str,
    now: datetime | None = None,
) -> Campaign:
    """Create the campaign named ``spec.name``, or bring it up to the spec; checks the template."""
    now = now or utcnow()
    available = {
        *available_variables(
            spec.kind, coupon=spec.coupon_code is not None, pool=spec.coupon_pool is not None
        ),
        *compose.field_variables(session, shop_id),
    }
    messages = templates.check(spec.messages, available=available)
    pool = (
        coupon_pools.get(session, shop_id=shop_id, name=spec.coupon_pool)
        if spec.coupon_pool is not None
        else None
    )
    if spec.kind == CampaignKind.SEGMENT:
        segments.get(session, shop_id=shop_id, name=spec.trigger["segment"])
    campaign = find(session, shop_id=shop_id, name=spec.name)
    created = campaign is None
    if campaign is None:
        campaign = Campaign(shop_id=shop_id, name=spec.name, created_at=now)
        session.add(campaign)
    elif campaign.kind != spec.kind:
        raise CampaignStateConflict(
            f"campaign {spec.name!r} is a {campaign.kind} campaign; a new kind needs a new name"
        )
    values = spec.model_dump(include=set(_FIELDS))
    values["messages"] = messages
    for name, value in values.items():
        setattr(campaign, name, value)
    campaign.channel_id = channel.id
    campaign.coupon_pool = pool
    campaign.trigger = spec.trigger
    campaign.delay = spec.delay.model_dump(exclude_defaults=True)
    campaign.per_day = spec.caps.per_day if spec.caps else None
    campaign.per_week = spec.caps.per_week if spec.caps else None
    campaign.updated_at = now
    session.flush()
    _sync_policy(session, campaign)
    audit.record_written(
        session,
        shop_id=shop_id,
        actor=actor,
        subject_type="campaign",
        subject_id=campaign.id,
        created=created,
        now=now,
    )
    if spec.enabled is not None:
        _enable(session, campaign, enabled=spec.enabled, actor=actor, now=now)
    return campaign


def _enable(
    session: Session, campaign: Campaign, *, enabled: bool, actor: str, now: datetime
) -> None:
    """Bring the status to what a spec declares; a finished campaign stays finished."""
    if enabled == is_enabled(campaign) or campaign.status in _FINISHED:
        return
    if not enabled:
        if campaign.status != CampaignStatus.DRAFT:
            set_status(
                session, campaign=campaign, status=CampaignStatus.PAUSED, actor=actor, now=now
            )
    elif campaign.status == CampaignStatus.PAUSED:
        resume(session, campaign=campaign, actor=actor, now=now)
    else:
        start = (
            CampaignStatus.SCHEDULED
            if campaign.kind == CampaignKind.SEGMENT
            else CampaignStatus.ACTIVE
        )
        set_status(session, campaign=campaign, status=start, actor=actor, now=now)


def _sync_policy(session: Session, campaign: Campaign) -> None:
    """Caps on the campaign are the policy of its source prefix; the rest follows the shop's.

    Only the caps the campaign sets are written: its quiet hours and any cap it leaves unset
    stay the shop's, as the shop changes them.
    """
    prefix = campaign.source
    if campaign.per_day is None and campaign.per_week is None:
        row = session.scalar(
            select(SendPolicy).where(
                SendPolicy.shop_id == campaign.shop_id, SendPolicy.source_prefix == prefix
            )
        )
        if row is not None:
            session.delete(row)
        return
    guardrails.set_policy(
        session,
        shop_id=campaign.shop_id,
        source_prefix=prefix,
        per_day=guardrails.INHERIT if campaign.per_day is None else campaign.per_day,
        per_week=guardrails.INHERIT if campaign.per_week is None else campaign.per_week,
    )


def find(session: Session, *, shop_id: int, name: str) -> Campaign | None:
    return session.scalar(
        select(Campaign).where(Campaign.shop_id == shop_id, Campaign.name == name)
    )


def get(session: Session, *, shop_id: int, campaign_id: int) -> Campaign:
    """The shop's campaign ``campaign_id``; another shop's is not found."""
    campaign = session.get(Campaign, campaign_id)
    if campaign is None or campaign.shop_id != shop_id:
        raise CampaignNotFound(f"no campaign {campaign_id} in this shop: GET /campaigns lists them")
    return campaign


_RUNNING = frozenset({CampaignStatus.ACTIVE, CampaignStatus.SCHEDULED, CampaignStatus.RUNNING})
_FINISHED = frozenset({CampaignStatus.COMPLETED, CampaignStatus.CANCELLED})

# status → the statuses it may move to by a person's action.
_TRANSITIONS: dict[str, frozenset[str]] = {
    CampaignStatus.DRAFT: frozenset({CampaignStatus.ACTIVE, CampaignStatus.SCHEDULED}),
    CampaignStatus.ACTIVE: frozenset({CampaignStatus.PAUSED, CampaignStatus.CANCELLED}),
    CampaignStatus.SCHEDULED: frozenset({CampaignStatus.PAUSED, CampaignStatus.CANCELLED}),
    CampaignStatus.RUNNING: frozenset({CampaignStatus.PAUSED, CampaignStatus.CANCELLED}),
    CampaignStatus.PAUSED: frozenset(
        {
            CampaignStatus.ACTIVE,
            CampaignStatus.SCHEDULED,
            CampaignStatus.RUNNING,
            CampaignStatus.CANCELLED,
        }
    ),
}


def set_status(
    session: Session,
    *,
    campaign: Campaign,
    status: CampaignStatus,
    actor: str,
    now: datetime | None = None,
) -> Campaign:
    """Start, pause, resume or cancel a campaign.

    Pausing holds what it planned and has not handed to LINE; resuming lets it go (what fell
    due meanwhile at once); cancelling cancels it.
    """
    now = now or utcnow()
    if status == campaign.status:
        return campaign
    if status not in _TRANSITIONS.get(campaign.status, frozenset()):
        raise CampaignStateConflict(
            f"campaign {campaign.name!r} is {campaign.status}; it cannot become {status}"
        )
    if status == CampaignStatus.SCHEDULED and campaign.kind != CampaignKind.SEGMENT:
        raise CampaignStateConflict("only segment campaigns are scheduled; activate this one")
    if status == CampaignStatus.ACTIVE and campaign.kind == CampaignKind.SEGMENT:
        raise CampaignStateConflict("a segment campaign is scheduled (or sent now), not activated")
    was = campaign.status
    campaign.status = status
    campaign.updated_at = now
    if status == CampaignStatus.CANCELLED:
        campaign.finished_at = now
        service.cancel(session, source=campaign.source, reason="campaign cancelled", now=now)
    elif status == CampaignStatus.PAUSED:
        service.hold(session, source=campaign.source, reason=PAUSED_REASON, now=now)
    elif was == CampaignStatus.PAUSED:
        service.unhold(session, source=campaign.source, reason=PAUSED_REASON, now=now)
    audit.record(
        session,
        shop_id=campaign.shop_id,
        actor=actor,
        action=f"campaign.{status}",
        subject_type="campaign",
        subject_id=campaign.id,
        now=now,
    )
    return campaign


def resume(
    session: Session, *, campaign: Campaign, actor: str, now: datetime | None = None
) -> Campaign:
    """Undo a pause: a trigger campaign listens again, a segment one waits for its time."""
    if campaign.status != CampaignStatus.PAUSED:
        raise CampaignStateConflict(f"campaign {campaign.name!r} is {campaign.status}, not paused")
    back = CampaignStatus.ACTIVE
    if campaign.kind == CampaignKind.SEGMENT:
        started = campaign.started_at is not None
        back = CampaignStatus.RUNNING if started else CampaignStatus.SCHEDULED
    return set_status(session, campaign=campaign, status=back, actor=actor, now=now)


def run_now(
    session: Session, *, campaign: Campaign, actor: str, now: datetime | None = None
) -> Campaign:
    """Start a segment campaign at once instead of at its ``scheduled_at`` (the audience is
    frozen when the worker starts it, within moments)."""
    now = now or utcnow()
    if campaign.kind != CampaignKind.SEGMENT:
        raise CampaignStateConflict(
            f"campaign {campaign.name!r} is triggered by events; activate it instead"
        )
    if campaign.status not in (CampaignStatus.DRAFT, CampaignStatus.SCHEDULED):
        raise CampaignStateConflict(
            f"campaign {campaign.name!r} is {campaign.status}: only a draft or scheduled "
            "campaign is started"
        )
    campaign.scheduled_at = now
    if campaign.status == CampaignStatus.DRAFT:
        set_status(
            session, campaign=campaign, status=CampaignStatus.SCHEDULED, actor=actor, now=now
        )
    campaign.updated_at = now
    enqueue_after_commit(session, "messaging.campaigns")
    return campaign


@tagging.names_tags("campaigns")
def _rename_tag(session: Session, shop_id: int, old: str, new: str) -> int:
    """A campaign's click tag, for the clicks to come."""
    renamed = session.execute(
        update(Campaign)
        .where(Campaign.shop_id == shop_id, Campaign.click_tag == old)
        .values(click_tag=new)
    )
    return int(getattr(renamed, "rowcount", 0))
