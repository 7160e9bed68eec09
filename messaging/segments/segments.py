"""Segments: a rule tree over a channel's friends, compiled to one SQL query.

``audience`` turns a segment into a ``Select`` of friend ids: every leaf is a column test or a
correlated ``EXISTS`` (links, tags, member attributes, purchase aggregates, bookings), so the
database does the filtering whatever the size of the shop; nothing is filtered in Python. The
same query gives the live count, the preview and the audience of a segment delivery.

Member attributes are JSON. Each comparison first checks the JSON type of the value (SQLite's
``json_type``, PostgreSQL's ``json_typeof``): a member whose ``rank`` is ``"gold"`` never breaks
a numeric comparison with a cast error, and ``5`` never equals ``"5"``, on either database.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Float,
    Select,
    String,
    and_,
    case,
    cast,
    exists,
    false,
    func,
    literal,
    not_,
    or_,
    select,
    true,
)
from sqlalchemy.orm import Session

from commerce.models import Booking, Purchase, PurchaseItem
from core import audit
from core.clock import utcnow
from core.errors import NotFound
from core.tenancy import Channel
from crm import fields
from crm.models import FieldDefinition
from idlink import tagging
from idlink.models import Friend, FriendTag, Member, MemberLink, Tag
from messaging.outbox.sql import is_postgres
from messaging.segments import field_rules, schemas
from messaging.segments.models import Segment
from messaging.segments.schemas import SegmentSpec

PREVIEW_SIZE = 20
# Bookings that will (or did) take place.
_LIVE_BOOKINGS = ("pending", "confirmed", "completed")


class SegmentNotFound(NotFound):
    """No segment of that name in this shop."""


def save(
    session: Session,
    *,
    shop_id: int,
    spec: SegmentSpec,
    actor: str,
    now: datetime | None = None,
) -> Segment:
    """Create the segment named ``spec.name``, or replace its rules; audited."""
    now = now or utcnow()
    # Compiled once to refuse a rule that does not fit the shop's fields now, not at send time.
    _compiler(session, shop_id, now, spec.rules).condition(spec.rules)
    segment = find(session, shop_id=shop_id, name=spec.name)
    created = segment is None
    if segment is None:
        segment = Segment(shop_id=shop_id, name=spec.name, created_at=now)
        session.add(segment)
    segment.rules = spec.rules_json()
    segment.updated_at = now
    session.flush()
    audit.record_written(
        session,
        shop_id=shop_id,
        actor=actor,
        subject_type="segment",
        subject_id=segment.id,
        created=created,
        now=now,
    )
    return segment


def find(session: Session, *, shop_id: int, name: str) -> Segment | None:
    return session.scalar(select(Segment).where(Segment.shop_id == shop_id, Segment.name == name))


def get(session: Session, *, shop_id: int, name: str) -> Segment:
    """The shop's segment ``name``; SegmentNotFound (404) otherwise."""
    segment = find(session, shop_id=shop_id, name=name)
    if segment is None:
        raise SegmentNotFound(f"no segment {name!r} in this shop: GET /segments lists them")
    return segment


def spec_of(segment: Segment) -> dict[str, Any]:
    """The segment as a spec (JSON-ready), the form ``save`` takes."""
    return {"name": segment.name, "rules": segment.rules}


def audience(
    session: Session, *, segment: Segment, channel: Channel, now: datetime | None = None
) -> Select[int]:
    """The ids of the channel's friends in the segment at ``now``: one query, not yet run."""
    if segment.shop_id != channel.shop_id:
        raise SegmentNotFound(f"segment {segment.name!r} belongs to another shop")
    rule = schemas.RULES.validate_python(segment.rules)
    compiler = _compiler(session, segment.shop_id, now or utcnow(), rule)
    # Never correlated to an enclosing query: it is used as ``Friend.id IN (audience)``.
    return (
        select(Friend.id)
        .where(
            Friend.shop_id == segment.shop_id,
            Friend.channel_id == channel.id,
            compiler.condition(rule),
        )
        .correlate(None)
    )


def count(
    session: Session, *, segment: Segment, channel: Channel, now: datetime | None = None
) -> int:
    """How many of the channel's friends are in the segment now (live, one query)."""
    query = audience(session, segment=segment, channel=channel, now=now)
    return session.scalar(select(func.count()).select_from(query.subquery())) or 0


def friend_condition(
    session: Session, *, shop_id: int, rules: dict[str, Any], now: datetime | None = None
) -> ColumnElement[bool]:
    """A rule tree (as a segment stores it) as a condition on ``Friend`` rows of the shop: the
    friends list filters with the very SQL its "save as a segment" will later run."""
    rule = schemas.RULES.validate_python(rules)
    return _compiler(session, shop_id, now or utcnow(), rule).condition(rule)


@dataclass(frozen=True, slots=True)
class Recipient:
    friend_id: int
    display_name: str | None
    status: str


@dataclass(frozen=True, slots=True)
class Preview:
    count: int
    sample: list[Recipient]


def preview(
    session: Session,
    *,
    segment: Segment,
    channel: Channel,
    size: int = PREVIEW_SIZE,
    now: datetime | None = None,
) -> Preview:
    """The live count and the first ``size`` friends of the segment (by id)."""
    ids = audience(session, segment=segment, channel=channel, now=now)
    rows = session.execute(
        select(Friend.id, Friend.display_name, Friend.status)
        .where(Friend.id.in_(ids))
        .order_by(Friend.id)
        .limit(size)
    )
    return Preview(
        count=count(session, segment=segment, channel=channel, now=now),
        sample=[Recipient(fid, name, status) for fid, name, status in rows],
    )


def _compiler(session: Session, shop_id: int, now: datetime, rule: Any) -> _Compiler:
    """A compiler for ``rule``; the shop's fields are read only when a rule names one, so a
    segment without field rules stays one query."""
    definitions = (
        {d.key: d for d in fields.definitions(session, shop_id)} if _names_fields(rule) else {}
    )
    return _Compiler(postgres=is_postgres(session), shop_id=shop_id, now=now, fields=definitions)


def _names_fields(rule: Any) -> bool:
    match rule:
        case schemas.AllRule(all=rules) | schemas.AnyRule(any=rules):
            return any(_names_fields(r) for r in rules)
        case schemas.NotRule(not_=inner):
            return _names_fields(inner)
    return isinstance(rule, schemas.FieldRule)


@dataclass(frozen=True, slots=True)
class _Compiler:
    """Rules to SQL conditions on ``Friend`` (correlated subqueries refer to the outer row)."""

    postgres: bool
    shop_id: int
    now: datetime
    fields: dict[str, FieldDefinition]

    def condition(self, rule: Any) -> ColumnElement[bool]:
        match rule:
            case schemas.AllRule(all=rules):
                return and_(true(), *(self.condition(r) for r in rules))
            case schemas.AnyRule(any=rules):
                return or_(false(), *(self.condition(r) for r in rules))
            case schemas.NotRule(not_=inner):
                return not_(self.condition(inner))
            case schemas.FriendStatusRule(friend_status=status):
                return Friend.status == status
            case schemas.FollowRouteRule(follow_route=route):
                return Friend.follow_route == route
            case schemas.LinkedRule(linked=linked):
                linked_now = self._linked_member(true())
                return linked_now if linked else not_(linked_now)
            case schemas.TagRule(tag=name):
                return self._tagged(name)
            case schemas.TagAbsentRule(tag_absent=name):
                return not_(self._tagged(name))
            case schemas.AttributeRule():
                return self._attribute(rule)
            case schemas.FieldRule():
                return field_rules.condition(rule, self.fields)
            case schemas.PurchasesRule(purchases=conditions):
                return self._purchases(conditions)
            case schemas.BookingsRule(bookings=conditions):
                return self._bookings(conditions)
        raise TypeError(f"not a segment rule: {rule!r}")

    def _linked_member(self, condition: ColumnElement[bool]) -> ColumnElement[bool]:
        """The friend's active link leads to a member meeting ``condition``."""
        return exists(
            select(MemberLink.id)
            .join(Member, Member.id == MemberLink.member_id)
            .where(
                MemberLink.friend_id == Friend.id,
                MemberLink.unlinked_at.is_(None),
                condition,
            )
        )

    def _tagged(self, name: str) -> ColumnElement[bool]:
        return exists(
            select(FriendTag.friend_id)
            .join(Tag, Tag.id == FriendTag.tag_id)
            .where(FriendTag.friend_id == Friend.id, Tag.shop_id == self.shop_id, Tag.name == name)
        )

    def _attribute(self, rule: schemas.AttributeRule) -> ColumnElement[bool]:
        key, value = rule.attribute, rule.value
        if rule.op == "exists":
            json_type = self._json_type(key)
            return self._linked_member(json_type.is_not(None) & (json_type != "null"))
        if rule.op == "ne":
            return self._linked_member(true()) & not_(self._linked_member(self._equals(key, value)))
        if rule.op == "in":
            assert isinstance(value, list)
            return self._linked_member(or_(*(self._equals(key, v) for v in value)))
        if rule.op == "eq":
            return self._linked_member(self._equals(key, value))
        operand = self._typed(key, value)
        return self._linked_member(operand >= value if rule.op == "gte" else operand <= value)

    def _equals(self, key: str, value: Any) -> ColumnElement[bool]:
        if isinstance(value, bool):
            word = "true" if value else "false"
            if self.postgres:
                return (self._json_type(key) == "boolean") & (self._json_text(key) == word)
            return self._json_type(key) == word
        return self._typed(key, value) == value

    def _typed(self, key: str, value: Any) -> ColumnElement[Any]:
        """The attribute as SQL of ``value``'s type (number or string); NULL for other types."""
        json_type, raw = self._json_type(key), self._json_text(key)
        if isinstance(value, int | float):
            numeric = ("number",) if self.postgres else ("integer", "real")
            return case((json_type.in_(numeric), cast(raw, Float)), else_=None)
        return case((json_type == ("string" if self.postgres else "text"), raw), else_=None)

    def _json_type(self, key: str) -> ColumnElement[str]:
        if self.postgres:
            return func.json_typeof(Member.attributes.op("->")(literal(key, String)))
        return func.json_type(Member.attributes, _sqlite_path(key))

    def _json_text(self, key: str) -> ColumnElement[str]:
        if self.postgres:
            return Member.attributes.op("->>")(literal(key, String))
        return func.json_extract(Member.attributes, _sqlite_path(key))

    def _purchases(self, conditions: schemas.PurchaseConditions) -> ColumnElement[bool]:
        having: list[ColumnElement[bool]] = []
        last = func.max(Purchase.ordered_at)
        if conditions.count_gte is not None:
            having.append(func.count(Purchase.id) >= conditions.count_gte)
        if conditions.total_gte is not None:
            net = func.sum(Purchase.total - Purchase.refunded_total)
            having.append(net >= conditions.total_gte)
        if conditions.last_within_days is not None:
            having.append(last >= self.now - timedelta(days=conditions.last_within_days))
        if conditions.last_before_days is not None:
            having.append(last < self.now - timedelta(days=conditions.last_before_days))
        orders = select(Purchase.member_id).where(
            Purchase.shop_id == self.shop_id,
            Purchase.member_id.is_not(None),
            Purchase.cancelled_at.is_(None),
            Purchase.test.is_(False),
        )
        if conditions.product_ids or conditions.skus:
            item_matches = []
            if conditions.product_ids:
                item_matches.append(PurchaseItem.product_id.in_(conditions.product_ids))
            if conditions.skus:
                item_matches.append(PurchaseItem.sku.in_(conditions.skus))
            orders = orders.where(
                exists(
                    select(PurchaseItem.id).where(
                        PurchaseItem.purchase_id == Purchase.id, or_(*item_matches)
                    )
                )
            )
        buyers = orders.group_by(Purchase.member_id).having(and_(true(), *having))
        return self._linked_member(Member.id.in_(buyers))

    def _bookings(self, conditions: schemas.BookingConditions) -> ColumnElement[bool]:
        matches: list[ColumnElement[bool]] = [
            Booking.shop_id == self.shop_id,
            Booking.member_id == Member.id,
            Booking.status.in_(_LIVE_BOOKINGS),
            Booking.superseded_by_id.is_(None),
        ]
        if conditions.upcoming or conditions.within_days:
            matches.append(Booking.start_at >= self.now)
        if conditions.within_days:
            matches.append(Booking.start_at < self.now + timedelta(days=conditions.within_days))
        if conditions.past_within_days:
            since = self.now - timedelta(days=conditions.past_within_days)
            matches.extend([Booking.start_at < self.now, Booking.start_at >= since])
        if conditions.service is not None:
            matches.append(Booking.service == conditions.service)
        return self._linked_member(exists(select(Booking.id).where(*matches)))


def _sqlite_path(key: str) -> str:
    # Keys are [A-Za-z0-9_-] (checked by the schema); quoted, a dash is no operator.
    return f'$."{key}"'


@tagging.names_tags("segments")
def _rename_tag(session: Session, shop_id: int, old: str, new: str) -> int:
    rows = session.scalars(select(Segment).where(Segment.shop_id == shop_id))
    return tagging.rename_in_rows(rows, ("rules",), frozenset({"tag", "tag_absent"}), old, new)
