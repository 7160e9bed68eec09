"""Tag rules on what the hub learns from its stores, reservation systems and member links, and
on time passing: read on a schedule (``growth.tag_rules``, also nudged after every connector
event), each rule through its own cursor like purchase campaigns.

- ``purchase``: the purchases written since the cursor that meet the conditions (the same
  ones a purchase campaign checks, ``messaging.campaigns.purchase_rules.meeting``). A purchase acts
  once (``purchase:{id}``); an n-th purchase rule acts once per friend, so an order synced late
  (older than one already counted) never brings a second "first purchase".
- ``total_spend``: the members of those purchases whose net spend reached the amount, once.
- ``booking``: bookings made (upcoming, pending or confirmed) or visited (completed).
- ``link`` / ``unlink``: member links made or ended since the cursor.
- ``no_purchase``: every hour, members whose last purchase is older than ``days``; once per
  lapse (``lapsed:{date of the last purchase}``: a new purchase then a new lapse acts again).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from commerce.models import Booking, Purchase
from core.clock import utcnow
from growth.tagrules import rules
from growth.tagrules.models import TagRule, TagRuleHit
from growth.tagrules.schemas import OnBooking, OnNoPurchase, OnPurchase, OnTotalSpend
from idlink.models import MemberLink
from messaging.campaigns import purchase_rules, scans
from messaging.compose import cursors
from messaging.outbox.sql import any_of

SCAN_EVERY = scans.SCAN_EVERY
# A visit counts this long after the booking's start (a completion marked the next week).
VISIT_WINDOW = timedelta(days=30)
MADE = ("pending", "confirmed")


@dataclass(slots=True)
class FeedRun:
    rules: int = 0
    hits: int = 0


def run(session: Session, *, now: datetime | None = None) -> FeedRun:
    """Read every active feed rule's new events (and run the lapse scans that are due)."""
    now = now or utcnow()
    result = FeedRun()
    for rule in rules.all_active(
        session, "purchase", "total_spend", "booking", "link", "unlink", "no_purchase"
    ):
        hits = _run_rule(session, rule, now)
        if hits is not None:
            result.rules += 1
            result.hits += hits
    return result


def _run_rule(session: Session, rule: TagRule, now: datetime) -> int | None:
    """The rule's new events; None when another worker holds its cursor (or a scan is not due)."""
    kind = rule.trigger["event"]
    cursor = cursors.claim(session, f"tag_rule:{rule.id}:{kind}", now=now)
    if cursor is None:
        return None
    if kind == "no_purchase":
        if cursor.position is not None and cursor.position > now - SCAN_EVERY:
            return None
        hits = _lapsed(session, rule, OnNoPurchase.model_validate(rule.trigger), now)
        cursor.position = cursor.updated_at = now
        return hits
    since = cursors.window_start(cursor, rule.active_since)
    if kind in ("link", "unlink"):
        hits = _links(session, rule, since=since, until=now)
        cursors.advance(cursor, now, now=now)
        return hits
    model = Booking if kind == "booking" else Purchase
    hits = 0
    seen: datetime | None = None
    for page in cursors.changed_rows(session, model, shop_id=rule.shop_id, since=since):
        seen = page[-1].updated_at
        if kind == "booking":
            hits += _bookings(session, rule, page, now)
        elif kind == "total_spend":
            hits += _spend(session, rule, page)
        else:
            hits += _purchases(session, rule, page, now)
    cursors.advance(cursor, seen, now=now)
    return hits


def linked_friends(session: Session, member_ids: Collection[int]) -> dict[int, list[int]]:
    """member id → the friends it is linked to now (one per provider's channel)."""
    found: dict[int, list[int]] = defaultdict(list)
    if not member_ids:
        return found
    rows = session.execute(
        select(MemberLink.member_id, MemberLink.friend_id).where(
            MemberLink.unlinked_at.is_(None), any_of(session, MemberLink.member_id, member_ids)
        )
    )
    for member_id, friend_id in rows:
        found[member_id].append(friend_id)
    return found


def _purchases(session: Session, rule: TagRule, page: list[Purchase], now: datetime) -> int:
    trigger = OnPurchase.model_validate(rule.trigger)
    live = [p for p in page if not purchase_rules.is_void(p)]
    friends = linked_friends(session, {p.member_id for p in live if p.member_id is not None})
    live = [p for p in live if p.member_id in friends]
    met = purchase_rules.meeting(session, trigger=trigger, purchases=live, now=now)
    hits = [(f, f"purchase:{p.id}") for p in met for f in friends[p.member_id or 0]]
    if trigger.purchase_number is not None:
        already = _friends_hit(session, rule, {f for f, _ in hits})
        hits = [(f, key) for f, key in hits if f not in already]
    return rules.fire(session, rule=rule, hits=hits, now=now)


def _friends_hit(session: Session, rule: TagRule, friend_ids: Collection[int]) -> set[int]:
    if not friend_ids:
        return set()
    return set(
        session.scalars(
            select(TagRuleHit.friend_id).where(
                TagRuleHit.rule_id == rule.id, any_of(session, TagRuleHit.friend_id, friend_ids)
            )
        )
    )


def _spend(session: Session, rule: TagRule, page: list[Purchase]) -> int:
    trigger = OnTotalSpend.model_validate(rule.trigger)
    members = {p.member_id for p in page if p.member_id is not None}
    if not members:
        return 0
    net = func.sum(Purchase.total - Purchase.refunded_total)
    reached = session.execute(
        select(Purchase.member_id, net)
        .where(
            any_of(session, Purchase.member_id, members),
            Purchase.currency == trigger.currency,
            Purchase.cancelled_at.is_(None),
            Purchase.test.is_(False),
        )
        .group_by(Purchase.member_id)
    ).all()
    spenders = {
        m for m, total in reached if m is not None and Decimal(total or 0) >= trigger.amount
    }
    friends = linked_friends(session, spenders)
    hits = [(f, "total_spend") for m in spenders for f in friends[m]]
    return rules.fire(session, rule=rule, hits=hits)


def _bookings(session: Session, rule: TagRule, page: list[Booking], now: datetime) -> int:
    trigger = OnBooking.model_validate(rule.trigger)
    if trigger.status == "made":
        wanted = [b for b in page if b.status in MADE and b.start_at >= now]
    else:
        wanted = [b for b in page if b.status == "completed" and b.start_at >= now - VISIT_WINDOW]
    if trigger.service is not None:
        wanted = [b for b in wanted if b.service == trigger.service]
    friends = linked_friends(session, {b.member_id for b in wanted if b.member_id is not None})
    hits = [
        (f, f"booking:{b.id}:{trigger.status}") for b in wanted for f in friends[b.member_id or 0]
    ]
    return rules.fire(session, rule=rule, hits=hits, now=now)


def _links(session: Session, rule: TagRule, *, since: datetime, until: datetime) -> int:
    at = MemberLink.linked_at if rule.trigger["event"] == "link" else MemberLink.unlinked_at
    rows = session.execute(
        select(MemberLink.friend_id, MemberLink.id).where(
            MemberLink.shop_id == rule.shop_id, at >= since, at <= until
        )
    ).all()
    kind = rule.trigger["event"]
    return rules.fire(session, rule=rule, hits=[(f, f"{kind}:{link}") for f, link in rows])


def _lapsed(session: Session, rule: TagRule, trigger: OnNoPurchase, now: datetime) -> int:
    last = scans.lapsed_members(rule.shop_id, days=trigger.days, now=now)
    rows = session.execute(
        select(MemberLink.friend_id, last.c.last).join(
            MemberLink,
            (MemberLink.member_id == last.c.member_id) & MemberLink.unlinked_at.is_(None),
        )
    ).all()
    hits = [(f, f"lapsed:{last_at.date().isoformat()}") for f, last_at in rows]
    return rules.fire(session, rule=rule, hits=hits, now=now)
