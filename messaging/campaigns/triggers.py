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

from collections import defaultdict
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, select
from sqlalchemy.orm import Session

from commerce.models import ProductGroup, ProductGroupMember, Purchase, PurchaseItem
from core.clock import utcnow
from core.enqueue import enqueue_after_commit
from core.tenancy import Channel
from messaging.campaigns import scans
from messaging.campaigns.models import Campaign, CampaignKind, CampaignStatus
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
    for page in cursors.changed_rows(session, Purchase, shop_id=campaign.shop_id, since=since):
        seen = page[-1].updated_at
        void = [p.id for p in page if is_void(p)]
        keys = [purchase_key(campaign, p) for p in void]
        result.cancelled += cursors.cancel_keys(session, keys, reason=CANCELLED_REASON, now=now)
        if trigger.purchase_number is not None:
            result.cancelled += _renumber(session, campaign, trigger.purchase_number, page, now)
        if campaign.status == CampaignStatus.ACTIVE:
            live = [p for p in page if p.id not in void]
            result.planned += _fire(session, campaign, channel, trigger, live, public_url, now)
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
    numbers = _purchase_numbers(session, theirs)
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


def is_void(purchase: Purchase) -> bool:
    """Cancelled, or refunded in full (a free order is not "refunded")."""
    fully_refunded = purchase.total > 0 and purchase.refunded_total >= purchase.total
    return purchase.cancelled_at is not None or fully_refunded


def _fire(
    session: Session,
    campaign: Campaign,
    channel: Channel,
    trigger: PurchaseTrigger,
    purchases: list[Purchase],
    public_url: str,
    now: datetime,
) -> int:
    """Plan the campaign's message for each purchase that meets the trigger; return how many."""
    matches = matching(
        session, trigger=trigger, channel_id=channel.id, purchases=purchases, now=now
    )
    if trigger.purchase_number is not None:
        matches = _not_yet_thanked(session, campaign, matches)
    done = cursors.existing_keys(session, [purchase_key(campaign, p.id) for p, _ in matches])
    planned = 0
    for purchase, friend_id in matches:
        key = purchase_key(campaign, purchase.id)
        if key in done:
            continue
        send = TemplateSend(
            channel=channel,
            template=campaign.messages,
            source=campaign.source,
            links=Links(public_url=public_url, tag=campaign.click_tag),
            due_at=due_after(purchase.ordered_at, campaign.delay, channel.timezone),
            values={"coupon_code": campaign.coupon_code},
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
        planned += result.created
    return planned


def matching(
    session: Session,
    *,
    trigger: PurchaseTrigger,
    channel_id: int,
    purchases: list[Purchase],
    now: datetime,
) -> list[tuple[Purchase, int]]:
    """The purchases that meet ``trigger``, each with the followed friend of ``channel_id`` its
    buyer is linked to (recent, not a test order, every condition holding)."""
    candidates = _recent(trigger, purchases, now)
    friends = cursors.followed_friends(
        session,
        channel_id=channel_id,
        member_ids={p.member_id for p in candidates if p.member_id is not None},
    )
    friend_of = {p.id: friends[p.member_id] for p in candidates if p.member_id in friends}
    candidates = [p for p in candidates if p.id in friend_of]
    met = meeting(session, trigger=trigger, purchases=candidates, now=now)
    return [(p, friend_of[p.id]) for p in met]


def _recent(trigger: PurchaseTrigger, purchases: list[Purchase], now: datetime) -> list[Purchase]:
    oldest = now - timedelta(hours=trigger.max_age_hours)
    return [
        p for p in purchases if p.member_id is not None and not p.test and p.ordered_at >= oldest
    ]


def meeting(
    session: Session, *, trigger: PurchaseTrigger, purchases: list[Purchase], now: datetime
) -> list[Purchase]:
    """The purchases of members that meet every condition of ``trigger`` (recent, not a test
    order, the total, the products bought, the member's n-th purchase)."""
    candidates = _recent(trigger, purchases, now)
    if trigger.min_total is not None:
        candidates = [p for p in candidates if p.total >= trigger.min_total]
    if trigger.skus or trigger.product_ids or trigger.collections:
        bought = _items(session, [p.id for p in candidates], collections=bool(trigger.collections))
        wanted = (
            {("sku", s) for s in trigger.skus}
            | {("product", p) for p in trigger.product_ids}
            | {("collection", c) for c in trigger.collections}
        )
        candidates = [p for p in candidates if bought.get(p.id, set()) & wanted]
    if trigger.purchase_number is not None:
        numbers = _purchase_numbers(session, candidates)
        candidates = [p for p in candidates if numbers[p.id] == trigger.purchase_number]
    return candidates


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
    numbers = _purchase_numbers(session, theirs)
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


def _items(
    session: Session, purchase_ids: Collection[int], *, collections: bool = False
) -> dict[int, set[tuple[str, str]]]:
    """purchase id → {("sku", …), ("product", …)} of its lines, and with ``collections`` the
    ("collection", handle) of every collection of its store that holds one of its products."""
    bought: dict[int, set[tuple[str, str]]] = defaultdict(set)
    if not purchase_ids:
        return bought
    if collections:
        rows = session.execute(
            select(PurchaseItem.purchase_id, ProductGroup.handle)
            .join(Purchase, Purchase.id == PurchaseItem.purchase_id)
            .join(ProductGroupMember, ProductGroupMember.product_id == PurchaseItem.product_id)
            .join(
                ProductGroup,
                and_(
                    ProductGroup.id == ProductGroupMember.group_id,
                    ProductGroup.connection_id == Purchase.connection_id,
                ),
            )
            .where(any_of(session, PurchaseItem.purchase_id, purchase_ids))
        )
        for purchase_id, handle in rows:
            bought[purchase_id].add(("collection", handle))
    items = session.execute(
        select(PurchaseItem.purchase_id, PurchaseItem.sku, PurchaseItem.product_id).where(
            any_of(session, PurchaseItem.purchase_id, purchase_ids)
        )
    )
    for purchase_id, sku, product_id in items:
        if sku:
            bought[purchase_id].add(("sku", sku))
        if product_id:
            bought[purchase_id].add(("product", product_id))
    return bought


def _purchase_numbers(session: Session, purchases: list[Purchase]) -> dict[int, int]:
    """purchase id → its rank among its member's purchases (1: the first), across connectors.

    Cancelled and test orders do not count: a customer whose first order was cancelled makes
    their first purchase with the next one.
    """
    members = {p.member_id for p in purchases if p.member_id is not None}
    if not members:
        return {}
    rows = session.execute(
        select(Purchase.member_id, Purchase.ordered_at, Purchase.id).where(
            any_of(session, Purchase.member_id, members),
            Purchase.cancelled_at.is_(None),
            Purchase.test.is_(False),
        )
    )
    history: dict[int | None, list[tuple[datetime, int]]] = defaultdict(list)
    for member_id, ordered_at, purchase_id in rows:
        history[member_id].append((ordered_at, purchase_id))
    numbers = {}
    for purchase in purchases:
        earlier = history[purchase.member_id or 0]
        numbers[purchase.id] = sum(1 for o in earlier if o <= (purchase.ordered_at, purchase.id))
    return numbers
