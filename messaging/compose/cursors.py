"""What triggers share: a cursor over a change feed, and who a member is on a channel.

Commerce cannot call messaging (it sits below it), so triggers discover purchases and bookings
from the database: each trigger keeps a ``TriggerCursor`` over the rows' ``updated_at``. Two
writers may commit out of ``updated_at`` order, so every read starts ``LOOKBACK`` before the
cursor; what it reads twice is skipped by the idempotency keys.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm import Session

from core.db import insert, rows_matched
from idlink.models import Friend, FriendStatus, MemberLink
from messaging.compose.models import TriggerCursor
from messaging.outbox.models import Delivery, DeliveryState
from messaging.outbox.sql import any_of

LOOKBACK = timedelta(minutes=5)
PAGE = 500
# Deliveries a change may still cancel: not yet handed to LINE.
UNSENT = (DeliveryState.PENDING, DeliveryState.HELD)


def claim(session: Session, name: str, *, now: datetime) -> TriggerCursor | None:
    """The cursor ``name``, locked until the caller commits; None while another worker runs it."""
    statement = insert(session, TriggerCursor).values(name=name, position=None, updated_at=now)
    session.execute(statement.on_conflict_do_nothing())
    return session.scalar(
        select(TriggerCursor)
        .where(TriggerCursor.name == name)
        .with_for_update(skip_locked=True)
        .execution_options(populate_existing=True)
    )


def changed_rows(
    session: Session, model: Any, *, shop_id: int, since: datetime
) -> Iterator[list[Any]]:
    """Pages of the shop's rows of ``model`` written after ``since``, oldest write first."""
    after: tuple[datetime, int] = (since, 0)
    while True:
        page = list(
            session.scalars(
                select(model)
                .where(
                    model.shop_id == shop_id,
                    or_(
                        model.updated_at > after[0],
                        and_(model.updated_at == after[0], model.id > after[1]),
                    ),
                )
                .order_by(model.updated_at, model.id)
                .limit(PAGE)
            )
        )
        if not page:
            return
        yield page
        after = (page[-1].updated_at, page[-1].id)
        if len(page) < PAGE:
            return


def advance(cursor: TriggerCursor, seen: datetime | None, *, now: datetime) -> None:
    """Move the cursor to the newest write seen, never past ``now`` (a clock ahead of ours)."""
    if seen is not None:
        position = min(seen, now)
        cursor.position = max(cursor.position, position) if cursor.position else position
    cursor.updated_at = now


def window_start(cursor: TriggerCursor, first: datetime) -> datetime:
    """Where this run reads from: ``LOOKBACK`` before the cursor, or ``first`` on a first run."""
    return cursor.position - LOOKBACK if cursor.position is not None else first


def followed_friends(
    session: Session, *, channel_id: int, member_ids: Collection[int]
) -> dict[int, int]:
    """member id → the followed friend of ``channel_id`` it is linked to (active links only)."""
    if not member_ids:
        return {}
    rows = session.execute(
        select(MemberLink.member_id, Friend.id)
        .join(Friend, Friend.id == MemberLink.friend_id)
        .where(
            MemberLink.unlinked_at.is_(None),
            any_of(session, MemberLink.member_id, member_ids),
            Friend.channel_id == channel_id,
            Friend.status == FriendStatus.FOLLOWED,
        )
    )
    return {member_id: friend_id for member_id, friend_id in rows}


def existing_keys(session: Session, keys: Collection[str]) -> set[str]:
    """Which of these idempotency keys already have a delivery (in any state)."""
    if not keys:
        return set()
    return set(
        session.scalars(select(Delivery.idempotency_key).where(Delivery.idempotency_key.in_(keys)))
    )


def utc_stamp(moment: datetime) -> str:
    """A moment as it appears in idempotency keys: 20261201T0100Z."""
    return moment.astimezone(UTC).strftime("%Y%m%dT%H%MZ")


def cancel_keys(session: Session, keys: Collection[str], *, reason: str, now: datetime) -> int:
    """Cancel the deliveries with these keys that were not handed to LINE yet."""
    if not keys:
        return 0
    result = session.execute(
        update(Delivery)
        .where(
            Delivery.idempotency_key.in_(keys),
            Delivery.state.in_(UNSENT),
            Delivery.batch_id.is_(None),
        )
        .values(state=DeliveryState.CANCELLED, reason=reason, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    return rows_matched(result)
