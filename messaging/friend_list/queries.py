"""The friends list as SQL: the filtered query, its sorted keyset pages and its count.

Every filter is a column test or an ``EXISTS``/``IN`` subquery, so the database does the work
whatever the size of the shop. Status, link, tags, purchases and bookings compile through the
segments' rule compiler (``FriendFilters.segment_rules``): a filter saved as a segment selects
the same friends.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import (
    ColumnElement,
    CompoundSelect,
    Select,
    exists,
    false,
    func,
    literal,
    select,
    tuple_,
    union,
)
from sqlalchemy.orm import Session

from commerce.models import Purchase
from core.clock import utcnow
from core.db import UTCDateTime
from core.ids import MAX_ROW_ID
from core.pagination import InvalidCursor, fetch_page
from crm import owners
from crm.models import FriendOwner
from idlink import search_index
from idlink.models import Friend, Member, MemberLink
from idlink.queries import friend_query
from messaging.friend_list.filters import FriendFilters, FriendSort
from messaging.outbox.sql import any_of
from messaging.segments import segments

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# A search matching up to this many friends is looked up first, then joined by id.
SEARCH_IDS_MAX = 20_000
_DESCENDING = {FriendSort.LAST_MESSAGE, FriendSort.FOLLOWED_AT, FriendSort.PURCHASE_TOTAL}


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _searched(session: Session, shop_id: int, q: str) -> ColumnElement[bool]:
    """The search's friends, looked up once: the page and the count then start from these ids
    instead of searching twice. A search matching very many friends stays a subquery."""
    candidates = _search(shop_id, q)
    found = list(session.scalars(candidates.limit(SEARCH_IDS_MAX + 1)))
    if len(found) > SEARCH_IDS_MAX:
        return Friend.id.in_(candidates)
    return any_of(session, Friend.id, found)


def _search(shop_id: int, q: str) -> CompoundSelect[Any]:
    """The display name holds ``q``, or the linked member's number, email or phone is ``q``,
    or the member's name holds every token of ``q``: the friends found each way (each on an
    index), not a scan of the shop's friends testing every way in turn."""
    members: list[Select[Any]] = [
        select(Member.id).where(Member.shop_id == shop_id, Member.member_number == q)
    ]
    for found in (
        search_index.members_by_contact(shop_id, q),
        search_index.members_named(shop_id, q),
    ):
        if found is not None:
            members.append(found)
    by_name = select(Friend.id).where(
        Friend.shop_id == shop_id,
        Friend.display_name.ilike(f"%{_escape_like(q)}%", escape="\\"),
    )
    by_member = select(MemberLink.friend_id).where(
        MemberLink.member_id.in_(union(*members)), MemberLink.unlinked_at.is_(None)
    )
    return union(by_name, by_member)


def filtered(
    session: Session,
    shop_id: int,
    filters: FriendFilters,
    *,
    channel_scope: Sequence[str] | None = None,
    now: datetime | None = None,
) -> Select[Friend]:
    """The shop's friends matching every filter (not yet sorted); ``channel_scope`` keeps only
    those LINE channels' friends, for staff limited to some stores."""
    now = now or utcnow()
    query = friend_query(
        shop_id,
        channel_scope=channel_scope,
        channel_id=filters.channel_id,
        line_user_id=filters.line_user_id,
    )
    if filters.q is not None:
        query = query.where(_searched(session, shop_id, filters.q))
    rules = filters.segment_rules()
    if rules:
        condition = segments.friend_condition(
            session, shop_id=shop_id, rules={"all": rules}, now=now
        )
        query = query.where(condition)
    if filters.owner is not None:
        if filters.owner.lower() == "none":
            query = query.where(~exists().where(FriendOwner.friend_id == Friend.id))
        else:
            query = owners.owned_by(query, shop_id, filters.owner)
    if filters.messaged_within_days is not None:
        since = now - timedelta(days=filters.messaged_within_days)
        query = query.where(Friend.last_message_at >= since)
    if filters.never_messaged is not None:
        last = Friend.last_message_at
        query = query.where(last.is_(None) if filters.never_messaged else last.is_not(None))
    return query


def nobody() -> Select[Friend]:
    """A list of no friend (filters that cannot hold)."""
    return select(Friend).where(false())


def count(session: Session, query: Select[Friend]) -> int:
    """How many friends ``query`` matches, in one query."""
    return session.scalar(select(func.count()).select_from(query.order_by(None).subquery())) or 0


def _sort_key(sort: FriendSort) -> ColumnElement[Any]:
    """The value a sort orders by, never NULL (a friend without one sorts last)."""
    if sort is FriendSort.FOLLOWED_AT:
        return func.coalesce(Friend.last_followed_at, literal(_EPOCH, UTCDateTime))
    if sort is FriendSort.DISPLAY_NAME:
        return func.coalesce(Friend.display_name, "")
    if sort is FriendSort.LAST_MESSAGE:
        return func.coalesce(Friend.last_message_at, literal(_EPOCH, UTCDateTime))
    total = (
        select(func.sum(Purchase.total - Purchase.refunded_total))
        .join(MemberLink, MemberLink.member_id == Purchase.member_id)
        .where(
            MemberLink.friend_id == Friend.id,
            MemberLink.unlinked_at.is_(None),
            Purchase.cancelled_at.is_(None),
            Purchase.test.is_(False),
        )
        .scalar_subquery()
    )
    return func.coalesce(total, Decimal(0))


@dataclass(frozen=True, slots=True)
class SortedPage:
    friends: list[Friend]
    next_cursor: str | None


def _encode(sort: FriendSort, value: Any, last_id: int) -> str:
    if isinstance(value, datetime):
        value = value.isoformat()
    elif isinstance(value, Decimal | int | float):
        value = str(value)
    raw = json.dumps({"s": sort.value, "v": value, "id": last_id}, ensure_ascii=False)
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _decode(sort: FriendSort, cursor: str) -> tuple[Any, int]:
    """The sort value and id a cursor points after; anything but a cursor of this sort fails."""
    try:
        raw = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        value, last_id = raw["v"], raw["id"]
        if raw["s"] != sort.value or type(last_id) is not int or not 0 < last_id <= MAX_ROW_ID:
            raise ValueError(raw)
        if not isinstance(value, str) or len(value) > 200:
            raise ValueError(raw)
        if sort in (FriendSort.FOLLOWED_AT, FriendSort.LAST_MESSAGE):
            parsed: Any = datetime.fromisoformat(value)
            if parsed.tzinfo is None:
                raise ValueError(raw)
            return parsed, last_id
        if sort is FriendSort.PURCHASE_TOTAL:
            return Decimal(value), last_id
        return value, last_id
    except (ValueError, KeyError, TypeError, InvalidOperation, binascii.Error) as exc:
        raise InvalidCursor(
            "cursor is not one this list returned for this sort: omit it to start again"
        ) from exc


def page(
    session: Session,
    query: Select[Friend],
    sort: FriendSort,
    *,
    limit: int,
    cursor: str | None,
) -> SortedPage:
    """One page of ``query`` in ``sort`` order (ties broken by id), and the next page's cursor."""
    if sort is FriendSort.NEWEST:
        friends, next_cursor = fetch_page(session, query, Friend.id, limit=limit, cursor=cursor)
        return SortedPage(friends, next_cursor)
    key = _sort_key(sort)
    descending = sort in _DESCENDING
    keyed = query.add_columns(key)
    if cursor is not None:
        value, last_id = _decode(sort, cursor)
        after = tuple_(key, Friend.id)
        keyed = keyed.where(after < (value, last_id) if descending else after > (value, last_id))
    order = (key.desc(), Friend.id.desc()) if descending else (key.asc(), Friend.id.asc())
    rows = session.execute(keyed.order_by(*order).limit(limit + 1)).all()
    friends = [row[0] for row in rows[:limit]]
    if len(rows) <= limit:
        return SortedPage(friends, None)
    return SortedPage(friends, _encode(sort, rows[limit - 1][1], friends[-1].id))


# The follow routes the console's filter offers: the most a shop plausibly prints QR codes for.
FOLLOW_ROUTES_MAX = 200


def follow_routes(session: Session, shop_id: int) -> list[str]:
    """The follow routes (流入経路) the shop's friends came through, in order."""
    query = (
        select(Friend.follow_route)
        .where(Friend.shop_id == shop_id, Friend.follow_route.is_not(None))
        .distinct()
        .order_by(Friend.follow_route)
        .limit(FOLLOW_ROUTES_MAX)
    )
    return [route for route in session.scalars(query) if route]
