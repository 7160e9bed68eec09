"""Scheduled scans: lapsed customers and birthdays, for campaigns of those kinds.

A scan looks at every linked, followed friend of the campaign's channel and plans the
campaign's message for those it finds. The keys make a scan repeatable at any time:

- lapsed: ``campaign:{id}:lapsed:{friend}:{last purchase date}``, one message per lapse (a new
  purchase followed by a new lapse is a new key);
- birthday: ``campaign:{id}:birthday:{friend}:{year}`` on the day, or ``…:{year}-{month}`` for
  the month.

``run_due`` runs each active scan campaign at most once per ``SCAN_EVERY``.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import Select, Subquery, func, select
from sqlalchemy.orm import Session

from commerce.coupons.assign import PoolTooSmall
from commerce.models import Purchase
from core.clock import utcnow
from core.tenancy import Channel
from idlink.models import Friend, FriendStatus, Member, MemberLink, month_day
from messaging.campaigns import coupons
from messaging.campaigns.models import Campaign, CampaignKind, CampaignStatus
from messaging.campaigns.schemas import BirthdayTrigger, LapsedTrigger
from messaging.compose import cursors
from messaging.compose.compose import Links, TemplateSend, due_after, plan_template
from messaging.outbox.service import PlanResult

SCAN_EVERY = timedelta(hours=1)
SCANNED_KINDS = (CampaignKind.LAPSED, CampaignKind.BIRTHDAY)


@dataclass(slots=True)
class ScanRun:
    planned: int = 0
    scanned: int = 0


def run_due(session: Session, *, public_url: str, now: datetime | None = None) -> ScanRun:
    """Scan every active lapsed and birthday campaign not scanned in the last ``SCAN_EVERY``."""
    now = now or utcnow()
    result = ScanRun()
    campaigns = session.scalars(
        select(Campaign)
        .where(Campaign.kind.in_(SCANNED_KINDS), Campaign.status == CampaignStatus.ACTIVE)
        .order_by(Campaign.id)
    ).all()
    for campaign in campaigns:
        cursor = cursors.claim(session, f"{campaign.source}:scan", now=now)
        if cursor is None or (cursor.position and cursor.position > now - SCAN_EVERY):
            continue
        result.planned += scan(session, campaign=campaign, public_url=public_url, now=now).created
        result.scanned += 1
        cursor.updated_at = now
        if not coupons.is_waiting(campaign):
            # A scan waiting for coupon codes runs again at the next tick instead.
            cursor.position = now
    return result


def scan(
    session: Session, *, campaign: Campaign, public_url: str, now: datetime | None = None
) -> PlanResult:
    """Plan ``campaign``'s message for every friend its scan finds now (repeatable); with a
    coupon pool short of codes for them all, plan none and wait (``coupons.wait``)."""
    now = now or utcnow()
    channel = session.get_one(Channel, campaign.channel_id)
    try:
        if campaign.kind == CampaignKind.LAPSED:
            result = _lapsed(session, campaign, channel, public_url, now)
        elif campaign.kind == CampaignKind.BIRTHDAY:
            result = _birthdays(session, campaign, channel, public_url, now)
        else:
            raise ValueError(
                f"campaign {campaign.name!r} is a {campaign.kind} campaign, not a scan"
            )
    except PoolTooSmall as exc:
        coupons.wait(session, campaign, exc, now=now)
        return PlanResult()
    coupons.stop_waiting(campaign)
    return result


def _plan(
    session: Session,
    campaign: Campaign,
    channel: Channel,
    public_url: str,
    due_at: datetime,
    keys: dict[int, str],
    now: datetime,
) -> PlanResult:
    """Plan the campaign's message to each friend of ``keys`` under their key, with their
    coupon code when the campaign has a pool (all the codes, or none and ``PoolTooSmall``)."""
    codes = coupons.codes_for(session, campaign, keys, now)
    send = TemplateSend(
        channel=channel,
        template=campaign.messages,
        source=campaign.source,
        links=Links(public_url=public_url, tag=campaign.click_tag),
        due_at=due_at,
        values={"coupon_code": campaign.coupon_code},
        values_for=coupons.values_for(codes),
        respect_quiet_hours=campaign.respect_quiet_hours,
        aggregation_unit=campaign.aggregation_unit,
    )
    return plan_template(
        session, send, friend_ids=list(keys), idempotency_key_for=keys.__getitem__, now=now
    )


def _linked_friends(channel: Channel) -> Select[int, int]:
    """SELECT friend id, member id of the channel's followed friends with an active link."""
    return (
        select(Friend.id, MemberLink.member_id)
        .join(MemberLink, (MemberLink.friend_id == Friend.id) & MemberLink.unlinked_at.is_(None))
        .where(Friend.channel_id == channel.id, Friend.status == FriendStatus.FOLLOWED)
    )


def lapsed_members(shop_id: int, *, days: int, now: datetime) -> Subquery:
    """(member_id, last) of the shop's members whose last purchase (any connector, not
    cancelled, not a test) is older than ``days``."""
    last_purchase = func.max(Purchase.ordered_at)
    return (
        select(Purchase.member_id, last_purchase.label("last"))
        .where(
            Purchase.shop_id == shop_id,
            Purchase.member_id.is_not(None),
            Purchase.cancelled_at.is_(None),
            Purchase.test.is_(False),
        )
        .group_by(Purchase.member_id)
        .having(last_purchase < now - timedelta(days=days))
        .subquery()
    )


def _lapsed(
    session: Session, campaign: Campaign, channel: Channel, public_url: str, now: datetime
) -> PlanResult:
    """Members whose last purchase (any connector, not cancelled) is older than ``days``."""
    trigger = LapsedTrigger.model_validate(campaign.trigger)
    last = lapsed_members(campaign.shop_id, days=trigger.days, now=now)
    linked = _linked_friends(channel).subquery()
    rows = session.execute(
        select(linked.c.id, last.c.last).join(last, last.c.member_id == linked.c.member_id)
    ).all()
    zone = ZoneInfo(channel.timezone)
    key_of = {
        friend: f"campaign:{campaign.id}:lapsed:{friend}:{last_at.astimezone(zone).date()}"
        for friend, last_at in rows
    }
    # Each lapse is planned once; only new lapses are rendered and planned again.
    done: set[str] = set()
    keys = list(key_of.values())
    for start in range(0, len(keys), cursors.PAGE):
        done |= cursors.existing_keys(session, keys[start : start + cursors.PAGE])
    due_at = due_after(now, campaign.delay, channel.timezone)
    new = {friend: key for friend, key in key_of.items() if key not in done}
    return _plan(session, campaign, channel, public_url, due_at, new, now)


def _birthdays(
    session: Session, campaign: Campaign, channel: Channel, public_url: str, now: datetime
) -> PlanResult:
    """Members born on today's date (channel timezone), or in this month."""
    trigger = BirthdayTrigger.model_validate(campaign.trigger)
    derive_birth_month_days(session, shop_id=campaign.shop_id)
    zone = ZoneInfo(channel.timezone)
    today = now.astimezone(zone).date()
    if trigger.on == "day":
        wanted = Member.birth_month_day.in_(_month_days(today))
        period = f"{today.year}"
        start_of_period = today
    else:
        wanted = Member.birth_month_day.like(f"{today.month:02d}-%")
        period = f"{today.year}-{today.month:02d}"
        start_of_period = today.replace(day=1)
    linked = _linked_friends(channel).subquery()
    friend_ids = session.scalars(
        select(linked.c.id)
        .join(Member, Member.id == linked.c.member_id)
        .where(Member.shop_id == campaign.shop_id, wanted)
    ).all()
    # "at 10:00" is 10:00 of the birthday (or of the 1st), even when the scan runs after it.
    start = datetime.combine(start_of_period, time(0), tzinfo=zone)
    due_at = due_after(start, campaign.delay, channel.timezone)
    keys = {f: f"campaign:{campaign.id}:birthday:{f}:{period}" for f in friend_ids}
    return _plan(session, campaign, channel, public_url, due_at, keys, now)


def _month_days(today: date) -> list[str]:
    """Today's "MM-DD"; on 28 February of a common year, 29 February's birthdays too."""
    days = [f"{today.month:02d}-{today.day:02d}"]
    if (today.month, today.day) == (2, 28) and not calendar.isleap(today.year):
        days.append("02-29")
    return days


def derive_birth_month_days(session: Session, *, shop_id: int) -> int:
    """Fill ``birth_month_day`` for members stored before it existed (their birth date is
    encrypted, so no migration could); later writes of a birth date keep it current."""
    members = session.scalars(
        select(Member).where(
            Member.shop_id == shop_id,
            Member.birth_date.is_not(None),
            Member.birth_month_day.is_(None),
        )
    ).all()
    for member in members:
        member.birth_month_day = month_day(member.birth_date)
    return len(members)
