"""Handing out codes: each friend of a send gets exactly one ready code of the pool.

A send is a segment campaign's start (one key for all its friends) or a triggered message (a
key per message, so a friend thanked for two purchases holds two codes). All of a send's
assignments happen in the caller's transaction. A friend who already holds a code for this
send (a retried start) keeps it; the others take free codes in id order, locked
(``SKIP LOCKED`` on PostgreSQL) so two sends never take the same one, and the unique
constraint on (pool, send, friend) refuses a second code for a friend. A pool with too few
ready codes assigns nothing and says how many are missing.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from commerce.coupons.models import CodeStatus, CouponCode, CouponPool
from core.clock import utcnow
from core.errors import Conflict

_CHUNK = 10_000


class PoolTooSmall(Conflict):
    """The pool has fewer ready codes than the send has friends without one."""

    def __init__(self, pool: CouponPool, *, needed: int, ready: int) -> None:
        self.pool_name = pool.name
        self.needed, self.ready, self.missing = needed, ready, needed - ready
        super().__init__(
            f"coupon pool {pool.name!r} has {ready} codes ready and this send needs {needed}: "
            f"{self.missing} missing; add them with `tsunagu coupon codes {pool.name} "
            f"--count {self.missing}` (or more), then start the send again"
        )


@dataclass(frozen=True, slots=True)
class Assigned:
    codes: dict[int, str]
    newly: int


def free_codes(session: Session, pool_id: int) -> int:
    """How many ready codes of the pool nobody holds yet."""
    return int(
        session.scalar(
            select(func.count()).where(
                CouponCode.pool_id == pool_id,
                CouponCode.status == CodeStatus.READY,
                CouponCode.friend_id.is_(None),
            )
        )
        or 0
    )


def assign(
    session: Session,
    *,
    pool: CouponPool,
    assigned_for: str,
    friend_ids: Collection[int],
    campaign_id: int | None = None,
    now: datetime | None = None,
) -> Assigned:
    """Each friend's code for the send ``assigned_for`` (e.g. ``campaign:12``), given if new."""
    keys = {friend_id: assigned_for for friend_id in friend_ids}
    return assign_each(session, pool=pool, keys=keys, campaign_id=campaign_id, now=now)


def assign_each(
    session: Session,
    *,
    pool: CouponPool,
    keys: Mapping[int, str],
    campaign_id: int | None = None,
    now: datetime | None = None,
) -> Assigned:
    """Each friend's code for their own send (friend id → the send's key, e.g. a triggered
    message's ``campaign:12:purchase:345``), given if new: all of them, or none."""
    now = now or utcnow()
    ids = list(keys)
    codes: dict[int, str] = {}
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start : start + _CHUNK]
        held = session.execute(
            select(CouponCode.friend_id, CouponCode.assigned_for, CouponCode.code).where(
                CouponCode.pool_id == pool.id,
                CouponCode.assigned_for.in_({keys[friend_id] for friend_id in chunk}),
                CouponCode.friend_id.in_(chunk),
            )
        )
        codes.update(
            {
                friend_id: code
                for friend_id, key, code in held
                if friend_id is not None and keys[friend_id] == key
            }
        )
    missing = [friend_id for friend_id in ids if friend_id not in codes]
    if not missing:
        return Assigned(codes, 0)
    free = session.execute(
        select(CouponCode.id, CouponCode.code)
        .where(
            CouponCode.pool_id == pool.id,
            CouponCode.status == CodeStatus.READY,
            CouponCode.friend_id.is_(None),
        )
        .order_by(CouponCode.id)
        .limit(len(missing))
        .with_for_update(skip_locked=True)
    ).all()
    if len(free) < len(missing):
        raise PoolTooSmall(pool, needed=len(missing), ready=len(free))
    session.execute(
        update(CouponCode),
        [
            {
                "id": code_id,
                "friend_id": friend_id,
                "assigned_for": keys[friend_id],
                "campaign_id": campaign_id,
                "assigned_at": now,
            }
            for friend_id, (code_id, _code) in zip(missing, free, strict=True)
        ],
    )
    codes.update({friend_id: code for friend_id, (_id, code) in zip(missing, free, strict=True)})
    return Assigned(codes, len(missing))
