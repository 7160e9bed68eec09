"""A campaign's coupon pool: each message's own code, and the wait when the pool runs dry.

A segment campaign's start gives every friend of its audience a code under the campaign's
source. A triggered message (a purchase's thanks, a lapse, a birthday) takes its code under its
own idempotency key, so a retried run finds the same code and a friend thanked twice holds two.
A trigger campaign whose pool has no free code for its next message plans nothing more and
says so in its ``status_reason`` (shown with the pool in the console and in the admin API);
its messages wait there, none is planned without a code, and the next run after codes are
added carries on.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from sqlalchemy.orm import Session

from commerce.coupons import assign
from commerce.coupons.assign import PoolTooSmall
from core import audit
from messaging.campaigns.models import Campaign

ACTOR = "system:campaigns"
WAITING = "waiting for coupon codes"


def codes_for(
    session: Session, campaign: Campaign, keys: Mapping[int, str], now: datetime
) -> dict[int, str]:
    """friend id → their code of the campaign's pool for the send keyed ``keys[friend]``
    (nothing without a pool); raises ``PoolTooSmall`` and gives none when some are missing."""
    if campaign.coupon_pool is None or not keys:
        return {}
    return assign.assign_each(
        session, pool=campaign.coupon_pool, keys=keys, campaign_id=campaign.id, now=now
    ).codes


def values_for(codes: Mapping[int, str]) -> dict[int, dict[str, str | None]]:
    """The ``{{ coupon }}`` of each friend, as a template send takes it."""
    return {friend_id: {"coupon": code} for friend_id, code in codes.items()}


def wait(session: Session, campaign: Campaign, exc: PoolTooSmall, *, now: datetime) -> None:
    """Say why the trigger campaign sends nothing now (audited once, when the wait starts)."""
    name = exc.pool_name
    reason = (
        f"{WAITING}: pool {name!r} has {exc.ready:,} free codes and the next messages need "
        f"{exc.needed:,}; they wait, and none is sent without its code. Add codes with "
        f"`tsunagu coupon codes {name} --count N` (or on the pool's page in the console)"
    )
    waiting_already = is_waiting(campaign)
    campaign.status_reason = reason
    if not waiting_already:
        audit.record(
            session,
            shop_id=campaign.shop_id,
            actor=ACTOR,
            action="campaign.waiting",
            subject_type="campaign",
            subject_id=campaign.id,
            now=now,
            reason=reason,
        )


def is_waiting(campaign: Campaign) -> bool:
    return (campaign.status_reason or "").startswith(WAITING)


def stop_waiting(campaign: Campaign) -> None:
    """The pool had codes for every message of this run: nothing waits any more."""
    if is_waiting(campaign):
        campaign.status_reason = None
