"""Purchase campaigns: a new purchase from any connector plans a delayed message to its buyer.

Each active ``purchase`` campaign reads the purchases written since its cursor (see
``messaging.compose.cursors``). A purchase fires when it is recent (``max_age_hours``: a backfill of
old orders never does), its member is linked to a followed friend of the campaign's channel,
and every condition of the trigger holds. Its delivery is keyed
``campaign:{id}:purchase:{purchase}``, so reading it again plans nothing; a purchase cancelled
or fully refunded cancels that delivery while it has not been handed to LINE.

A member's orders can arrive out of order (a backfill, a second store): an n-th purchase
message waiting to go is cancelled when an earlier order of the member arrives and makes its
purchase the (n+1)-th, and a friend gets a campaign's n-th purchase message once at most.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from commerce.coupons.assign import PoolTooSmall
from commerce.models import Purchase
from core.clock import utcnow
from core.enqueue import enqueue_after_commit
from core.tenancy import Channel
from messaging.campaigns import coupons, scans
from messaging.campaigns.models import Campaign, CampaignKind, CampaignStatus
from messaging.campaigns.purchase_rules import is_void, matching, purchase_numbers
from messaging.compose import cursors
from messaging.compose.compose import Links, TemplateSend, due_after, plan_template
from messaging.compose.schemas import PurchaseTrigger
from messaging.outbox.models import Delivery, DeliveryState
from messaging.outbox.sql import any_of
from messaging.sequences import sequences
from messaging.sequences.models import Enrollment, EnrollmentState, Sequence

CANCELLED_REASON = "the purchase was cancelled or refunded"
RENUMBERED_REASON = (
    "an earlier order of the member arrived after this one: it is no longer the purchase "
    "number the campaign is for"
)
# An enrolment's exit reason (at most 100 characters).
ENROLMENT_RENUMBERED_REASON = "an earlier order of the member arrived: not the purchase it was for"


@dataclass(slots=True)
class TriggerRun:
    """What one run did: deliveries planned, deliveries cancelled, campaigns scanned."""

    planned: int = 0
    cancelled: int = 0
    scanned: int = 0
    enrolled: int = 0


def purchase_key(campaign: Campaign, purchase_id: int) -> str:
    return f"campaign:{campaign.id}:purchase:{purchase_id}"


def run(session: Session, *, public_url: str, now: datetime | None = None) -> TriggerRun:
    """Fire every purchase campaign on the purchases written since it last ran, enrol buyers in
    the sequences that start on a purchase, and run the lapsed and birthday scans that are due."""
    now = now or utcnow()
    result = TriggerRun()
    campaigns = session.scalars(
        select(Campaign)
        .where(
            Campaign.kind == CampaignKind.PURCHASE,
            # A paused campaign sends nothing new but still cancels what refunds undo.
            Campaign.status.in_([CampaignStatus.ACTIVE, CampaignStatus.PAUSED]),
        )
        .order_by(Campaign.id)
    ).all()
    for campaign in campaigns:
        fired = fire_purchases(session, campaign=campaign, public_url=public_url, now=now)
        result.planned += fired.planned
        result.cancelled += fired.cancelled
    for sequence in sequences.purchase_enrolled(session):
        result.enrolled += enrol_on_purchases(session, sequence=sequence, now=now)
    if result.enrolled:
        enqueue_after_commit(session, "messaging.sequences")
    scanned = scans.run_due(session, public_url=public_url, now=now)
    result.planned += scanned.planned
    result.scanned += scanned.scanned
    return result


def fire_purchases(
    session: Session, *, campaign: Campaign, public_url: str, now: datetime | None = None
) -> TriggerRun:
    """Read the purchases written since ``campaign``'s cursor; plan or cancel their messages.

    A campaign's first run starts at its last change (its activation): earlier purchases are
    not its business. Nothing happens while another worker holds the cursor.
    """
    now = now or utcnow()
    result = TriggerRun()
    cursor = cursors.claim(session, campaign.source, now=now)
    if cursor is None:
        return result
    trigger = PurchaseTrigger.model_validate(campaign.trigger)
    channel = session.get_one(Channel, campaign.channel_id)
    since = cursors.window_start(cursor, campaign.updated_at)
    seen: datetime | None = None
    # The first purchase whose message waits for a coupon code: the cursor stays before it.
    waiting: Purchase | None = None
    for page in cursors.changed_rows(session, Purchase, shop_id=campaign.shop_id, since=since):
        seen = page[-1].updated_at
        void = [p.id for p in page if is_void(p)]
        keys = [purchase_key(campaign, p) for p in void]
        result.cancelled += cursors.cancel_keys(session, keys, reason=CANCELLED_REASON, now=now)
        if trigger.purchase_number is not None:
            result.cancelled += _renumber(session, campaign, trigger.purchase_number, page, now)
        if campaign.status == CampaignStatus.ACTIVE and waiting is None:
            live = [p for p in page if p.id not in void]
            fired = _fire(session, campaign, channel, trigger, live, public_url, now)
            result.planned += fired.planned
            waiting = fired.waiting
    if waiting is None:
        coupons.stop_waiting(campaign)
    else:
        # Read again from there next time (``LOOKBACK`` before the cursor): the keys skip
        # what was planned, and the waiting messages go once the pool has codes.
        seen = waiting.updated_at
    cursors.advance(cursor, seen, now=now)
    return result


def _renumber(
    session: Session, campaign: Campaign, number: int, purchases: list[Purchase], now: datetime
) -> int:
    """Cancel the campaign's waiting messages whose purchase is no longer the ``number``-th of
    its member, now that these purchases are known; return how many."""
    members = {p.member_id for p in purchases if p.member_id is not None}
    friends = cursors.followed_friends(session, channel_id=campaign.channel_id, member_ids=members)
    if not friends:
        return 0
    prefix = f"campaign:{campaign.id}:purchase:"
    waiting = session.scalars(
        select(Delivery.idempotency_key).where(
            Delivery.source == campaign.source,
            any_of(session, Delivery.friend_id, friends.values()),
            Delivery.state.in_(cursors.UNSENT),
            Delivery.batch_id.is_(None),
        )
    ).all()
    purchase_ids = {int(key.removeprefix(prefix)): key for key in waiting}
    if not purchase_ids:
        return 0
    theirs = list(
        session.scalars(
            select(Purchase).where(
                any_of(session, Purchase.id, purchase_ids), Purchase.member_id.in_(members)
            )
        )
    )
    numbers = purchase_numbers(session, theirs)
    stale = [purchase_ids[p.id] for p in theirs if numbers[p.id] != number]
    return cursors.cancel_keys(session, stale, reason=RENUMBERED_REASON, now=now)


def _not_yet_thanked(
    session: Session, campaign: Campaign, matches: list[tuple[Purchase, int]]
) -> list[tuple[Purchase, int]]:
    """The matches whose friend has no message of this campaign yet, cancelled ones aside (a
    purchase read out of order must not bring a second "first purchase" message)."""
    if not matches:
        return matches
    keys = {purchase_key(campaign, p.id) for p, _ in matches}
    thanked = set(
        session.scalars(
            select(Delivery.friend_id).where(
                Delivery.source == campaign.source,
                any_of(session, Delivery.friend_id, {friend for _, friend in matches}),
                Delivery.state != DeliveryState.CANCELLED,
                Delivery.idempotency_key.not_in(keys),
            )
        )
    )
    return [(p, friend) for p, friend in matches if friend not in thanked]


@dataclass(slots=True)
class _Fired:
    planned: int = 0
    # The purchase whose message found no free code in the campaign's pool (then the last).
    waiting: Purchase | None = None


def _fire(
    session: Session,
    campaign: Campaign,
    channel: Channel,
    trigger: PurchaseTrigger,
    purchases: list[Purchase],
    public_url: str,
    now: datetime,
) -> _Fired:
    """Plan the campaign's message for each purchase that meets the trigger, in the order they
    were written, each with its own coupon code when the campaign has a pool; stop at the first
    one the pool has no code for."""
    matches = matching(
        session, trigger=trigger, channel_id=channel.id, purchases=purchases, now=now
    )
    if trigger.purchase_number is not None:
        matches = _not_yet_thanked(session, campaign, matches)
    done = cursors.existing_keys(session, [purchase_key(campaign, p.id) for p, _ in matches])
    fired = _Fired()
    for purchase, friend_id in matches:
        key = purchase_key(campaign, purchase.id)
        if key in done:
            continue
        try:
            codes = coupons.codes_for(session, campaign, {friend_id: key}, now)
        except PoolTooSmall as exc:
            coupons.wait(session, campaign, exc, now=now)
            fired.waiting = purchase
            return fired
        send = TemplateSend(
            channel=channel,
            template=campaign.messages,
            source=campaign.source,
            links=Links(public_url=public_url, tag=campaign.click_tag),
            due_at=due_after(purchase.ordered_at, campaign.delay, channel.timezone),
            values={"coupon_code": campaign.coupon_code},
            values_for=coupons.values_for(codes),
            respect_quiet_hours=campaign.respect_quiet_hours,
            aggregation_unit=campaign.aggregation_unit,
        )
        result = plan_template(
            session,
            send,
            friend_ids=[friend_id],
            idempotency_key_for={friend_id: key}.__getitem__,
            now=now,
        )
        fired.planned += result.created
    return fired


def enrol_on_purchases(session: Session, *, sequence: Sequence, now: datetime | None = None) -> int:
    """Enrol in ``sequence`` the buyers of the purchases written since it last read them that
    meet its ``enroll_on.purchase`` conditions; a purchase read twice enrols once."""
    now = now or utcnow()
    cursor = cursors.claim(session, f"sequence:{sequence.id}:purchases", now=now)
    if cursor is None:
        return 0
    trigger = PurchaseTrigger.model_validate(sequence.enroll_on.get("purchase") or {})
    since = cursors.window_start(cursor, sequence.active_since)
    enrolled = 0
    seen: datetime | None = None
    for page in cursors.changed_rows(session, Purchase, shop_id=sequence.shop_id, since=since):
        seen = page[-1].updated_at
        if trigger.purchase_number is not None:
            _withdraw_renumbered(session, sequence, trigger, page, now)
        live = [p for p in page if not is_void(p)]
        for purchase, friend_id in matching(
            session, trigger=trigger, channel_id=sequence.channel_id, purchases=live, now=now
        ):
            enrolled += sequences.enrol(
                session,
                sequence=sequence,
                friend_ids=[friend_id],
                reason=f"purchase:{purchase.id}",
                now=purchase.ordered_at,
            )
    cursors.advance(cursor, seen, now=now)
    return enrolled


def _withdraw_renumbered(
    session: Session,
    sequence: Sequence,
    trigger: PurchaseTrigger,
    purchases: list[Purchase],
    now: datetime,
) -> int:
    """End the active enrolments made for a purchase these purchases show is not the member's
    n-th after all (a year-old order backfilled after it), unless the real n-th would have
    enrolled them too at that order's time (one two hours older); return how many ended."""
    number = trigger.purchase_number
    members = {p.member_id for p in purchases if p.member_id is not None}
    friends = cursors.followed_friends(session, channel_id=sequence.channel_id, member_ids=members)
    if number is None or not friends:
        return 0
    rows = session.execute(
        select(Enrollment.id, Enrollment.reason).where(
            Enrollment.sequence_id == sequence.id,
            Enrollment.state == EnrollmentState.ACTIVE,
            any_of(session, Enrollment.friend_id, friends.values()),
            Enrollment.reason.like("purchase:%"),
        )
    ).all()
    enrolment_of = {
        int(reason.removeprefix("purchase:")): id_
        for id_, reason in rows
        if reason.removeprefix("purchase:").isdigit()
    }
    if not enrolment_of:
        return 0
    theirs = list(
        session.scalars(select(Purchase).where(any_of(session, Purchase.id, enrolment_of)))
    )
    numbers = purchase_numbers(session, theirs)
    renumbered = [p for p in theirs if numbers.get(p.id) != number]
    if not renumbered:
        return 0
    history = list(
        session.scalars(
            select(Purchase).where(
                any_of(session, Purchase.member_id, {p.member_id or 0 for p in renumbered}),
                Purchase.cancelled_at.is_(None),
                Purchase.test.is_(False),
            )
        )
    )
    stale = []
    for purchase in renumbered:
        own = [p for p in history if p.member_id == purchase.member_id]
        # As of the enrolling order: would the member's real n-th purchase have enrolled them?
        real = matching(
            session,
            trigger=trigger,
            channel_id=sequence.channel_id,
            purchases=own,
            now=purchase.ordered_at,
        )
        if not real:
            stale.append(enrolment_of[purchase.id])
    if not stale:
        return 0
    return sequences.end_enrollments(
        session,
        sequence=sequence,
        enrollment_ids=stale,
        reason=ENROLMENT_RENUMBERED_REASON,
        now=now,
    )
