"""Visit reminders: per-shop rules (24 h before, 2 h before, …) and the deliveries they keep.

A rule plans one delivery per confirmed booking of a member linked to a followed friend of the
rule's channel, due ``offset_minutes`` before the start, keyed
``reminder:{booking}:{rule}:{start}:r{revision}`` with the source ``reminder:{rule}:{booking}``.
``reconcile`` reads the bookings written since each rule's cursor and brings their deliveries
in line: a reschedule cancels the old start's unsent reminder and plans the new one; a
cancelled or superseded booking cancels it; a booking moved away and back (or cancelled and
confirmed again) gets a new reminder under ``…:again1``, a cancelled row never coming back; a
booking made inside the window sends at once or is skipped, as the rule says. The text names
the time, service and store in the channel's timezone (``{{ booking_time }}``,
``{{ booking_date }}``, ``{{ booking_service }}``, ``{{ booking_store }}``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from commerce.models import Booking
from connectors.records import BookingStatus
from core import audit
from core.clock import utcnow
from core.db import rows_matched
from core.tenancy import Channel
from idlink.models import MemberLink
from messaging.compose import compose, cursors, templates
from messaging.compose.compose import (
    Links,
    TemplateSend,
    local_date_text,
    local_time_text,
    plan_template,
)
from messaging.compose.models import TriggerCursor
from messaging.outbox.models import Delivery, DeliveryState
from messaging.reminders.models import InsideWindow, ReminderRule
from messaging.reminders.schemas import ReminderRuleSpec

AVAILABLE = templates.FRIEND_VARIABLES | templates.BOOKING_VARIABLES
# Uncertain counts too: a reminder LINE may have delivered is not sent again.
_IN_FLIGHT = (DeliveryState.SENDING, DeliveryState.SENT, DeliveryState.UNCERTAIN)


@dataclass(slots=True)
class ReminderRun:
    """What one reconcile did: reminders planned, unsent reminders cancelled."""

    planned: int = 0
    cancelled: int = 0


def source_of(rule: ReminderRule, booking_id: int) -> str:
    return f"{source_prefix(rule)}{booking_id}"


def source_prefix(rule: ReminderRule) -> str:
    """What the sources of every reminder of ``rule`` start with."""
    return f"reminder:{rule.id}:"


def key_of(rule: ReminderRule, booking: Booking) -> str:
    return f"{_start_prefix(rule, booking)}r{rule.revision}"


def _start_prefix(rule: ReminderRule, booking: Booking) -> str:
    return f"reminder:{booking.id}:{rule.id}:{cursors.utc_stamp(booking.start_at)}:"


def find_rule(session: Session, *, shop_id: int, name: str) -> ReminderRule | None:
    return session.scalar(
        select(ReminderRule).where(ReminderRule.shop_id == shop_id, ReminderRule.name == name)
    )


def spec_of(rule: ReminderRule, channel: Channel) -> dict[str, object]:
    """The rule as a spec (JSON-ready), the form ``save_rule`` takes and files declare."""
    return ReminderRuleSpec(
        name=rule.name,
        channel=channel.line_channel_id,
        offset_minutes=rule.offset_minutes,
        messages=rule.messages,
        inside_window=InsideWindow(rule.inside_window),
        respect_quiet_hours=rule.respect_quiet_hours,
        active=rule.active,
    ).model_dump(mode="json", exclude_defaults=True)


def save_rule(
    session: Session,
    *,
    shop_id: int,
    channel: Channel,
    spec: ReminderRuleSpec,
    actor: str,
    now: datetime | None = None,
) -> ReminderRule:
    """Create the rule named ``spec.name`` or bring it up to the spec; checks the template.

    Changing when or what it sends (channel, offset, text, quiet hours, active) cancels its
    unsent reminders and plans every future booking again under a new revision; reminders
    already sent are not sent twice.
    """
    now = now or utcnow()
    available = {*AVAILABLE, *compose.field_variables(session, shop_id)}
    messages = templates.check(spec.messages, available=available)
    rule = find_rule(session, shop_id=shop_id, name=spec.name)
    created = rule is None
    if rule is None:
        rule = ReminderRule(shop_id=shop_id, name=spec.name, revision=1, created_at=now)
        session.add(rule)
    changed = not created and (
        rule.channel_id,
        rule.offset_minutes,
        rule.messages,
        rule.respect_quiet_hours,
        rule.active,
    ) != (channel.id, spec.offset_minutes, messages, spec.respect_quiet_hours, spec.active)
    rule.channel_id = channel.id
    rule.offset_minutes = spec.offset_minutes
    rule.messages = messages
    rule.inside_window = spec.inside_window
    rule.respect_quiet_hours = spec.respect_quiet_hours
    rule.active = spec.active
    rule.updated_at = now
    session.flush()
    if changed:
        rule.revision += 1
        _cancel_rule(session, rule, reason="the reminder rule changed", now=now)
        session.execute(delete(TriggerCursor).where(TriggerCursor.name == _cursor_name(rule)))
    audit.record_written(
        session,
        shop_id=shop_id,
        actor=actor,
        subject_type="reminder_rule",
        subject_id=rule.id,
        created=created,
        now=now,
    )
    return rule


def _cursor_name(rule: ReminderRule) -> str:
    return f"reminder:{rule.id}"


def _cancel_rule(session: Session, rule: ReminderRule, *, reason: str, now: datetime) -> int:
    result = session.execute(
        update(Delivery)
        .where(
            Delivery.source.startswith(source_prefix(rule), autoescape=True),
            Delivery.state.in_(cursors.UNSENT),
            Delivery.batch_id.is_(None),
        )
        .values(state=DeliveryState.CANCELLED, reason=reason, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    return rows_matched(result)


def reconcile(session: Session, *, public_url: str, now: datetime | None = None) -> ReminderRun:
    """Bring every active rule's reminders in line with the bookings written since it ran."""
    now = now or utcnow()
    result = ReminderRun()
    rules = session.scalars(
        select(ReminderRule).where(ReminderRule.active.is_(True)).order_by(ReminderRule.id)
    ).all()
    for rule in rules:
        one = reconcile_rule(session, rule=rule, public_url=public_url, now=now)
        result.planned += one.planned
        result.cancelled += one.cancelled
    return result


def reconcile_rule(
    session: Session, *, rule: ReminderRule, public_url: str, now: datetime | None = None
) -> ReminderRun:
    """One rule: on its first run every future booking, then the bookings written since, and
    those of members linked since (a friend who links after booking is reminded too)."""
    now = now or utcnow()
    result = ReminderRun()
    cursor = cursors.claim(session, _cursor_name(rule), now=now)
    if cursor is None:
        return result
    channel = session.get_one(Channel, rule.channel_id)
    if cursor.position is None:
        pages = _future_bookings(session, rule.shop_id, now)
    else:
        since = cursors.window_start(cursor, now)
        pages = _chain(
            cursors.changed_rows(session, Booking, shop_id=rule.shop_id, since=since),
            _bookings_of_new_links(session, rule.shop_id, since, now),
        )
    for page in pages:
        _reconcile(session, rule, channel, page, public_url, now, result)
    cursors.advance(cursor, now, now=now)
    return result


def _chain(*iterators: Iterator[list[Booking]]) -> Iterator[list[Booking]]:
    for iterator in iterators:
        yield from iterator


def _future_bookings(session: Session, shop_id: int, now: datetime) -> Iterator[list[Booking]]:
    after = 0
    while page := list(
        session.scalars(
            select(Booking)
            .where(Booking.shop_id == shop_id, Booking.start_at > now, Booking.id > after)
            .order_by(Booking.id)
            .limit(cursors.PAGE)
        )
    ):
        yield page
        after = page[-1].id


def _bookings_of_new_links(
    session: Session, shop_id: int, since: datetime, now: datetime
) -> Iterator[list[Booking]]:
    linked = select(MemberLink.member_id).where(
        MemberLink.shop_id == shop_id,
        MemberLink.linked_at > since,
        MemberLink.unlinked_at.is_(None),
    )
    found = list(
        session.scalars(
            select(Booking).where(
                Booking.shop_id == shop_id, Booking.start_at > now, Booking.member_id.in_(linked)
            )
        )
    )
    if found:
        yield found


def _reconcile(
    session: Session,
    rule: ReminderRule,
    channel: Channel,
    bookings: list[Booking],
    public_url: str,
    now: datetime,
    result: ReminderRun,
) -> None:
    friends = cursors.followed_friends(
        session, channel_id=channel.id, member_ids={b.member_id for b in bookings if b.member_id}
    )
    existing: dict[str, list[tuple[str, str]]] = defaultdict(list)
    rows = session.execute(
        select(Delivery.source, Delivery.idempotency_key, Delivery.state).where(
            Delivery.source.in_([source_of(rule, b.id) for b in bookings])
        )
    )
    for source, key, state in rows:
        existing[source].append((key, state))
    for booking in bookings:
        planned = existing[source_of(rule, booking.id)]
        friend_id = friends.get(booking.member_id or 0)
        wanted = (
            _wanted_key(rule, booking, planned) if _remindable(booking, friend_id, now) else None
        )
        stale = [k for k, state in planned if state in cursors.UNSENT and k != wanted]
        result.cancelled += cursors.cancel_keys(
            session, stale, reason=_why(booking, wanted), now=now
        )
        if wanted is None or friend_id is None or _handled(rule, booking, planned, wanted):
            continue
        due = booking.start_at - timedelta(minutes=rule.offset_minutes)
        if due <= now and rule.inside_window == InsideWindow.SKIP:
            continue
        send = TemplateSend(
            channel=channel,
            template=rule.messages,
            source=source_of(rule, booking.id),
            links=Links(public_url=public_url),
            due_at=max(due, now),
            values_for={friend_id: booking_values(booking, channel.timezone)},
            respect_quiet_hours=rule.respect_quiet_hours,
        )
        result.planned += plan_template(
            session,
            send,
            friend_ids=[friend_id],
            idempotency_key_for={friend_id: wanted}.__getitem__,
            now=now,
        ).created


def _remindable(booking: Booking, friend_id: int | None, now: datetime) -> bool:
    return (
        friend_id is not None
        and booking.status == BookingStatus.CONFIRMED
        and booking.superseded_by_id is None
        and booking.start_at > now
    )


def _wanted_key(rule: ReminderRule, booking: Booking, planned: list[tuple[str, str]]) -> str:
    """The key of the reminder this start calls for: ``key_of``, or, when that reminder was
    cancelled (the booking moved away and back, or was cancelled and confirmed again), a key
    of its own for the new one (``…:again1``, ``…:again2``): a cancelled row is never revived."""
    states = dict(planned)
    key, again = key_of(rule, booking), 0
    while states.get(key) == DeliveryState.CANCELLED:
        again += 1
        key = f"{key_of(rule, booking)}:again{again}"
    return key


def _handled(
    rule: ReminderRule, booking: Booking, planned: list[tuple[str, str]], wanted: str
) -> bool:
    """Planned already under the ``wanted`` key, or sent for this start under an earlier
    revision of the rule or before a move away and back."""
    prefix = _start_prefix(rule, booking)
    return any(
        key == wanted or (key.startswith(prefix) and state in _IN_FLIGHT) for key, state in planned
    )


def _why(booking: Booking, wanted: str | None) -> str:
    if wanted is not None:
        return "the booking moved"
    if booking.superseded_by_id is not None or booking.status != BookingStatus.CONFIRMED:
        return f"the booking is {booking.status}"
    return "the booking is past, or its member is no longer linked to a followed friend"


def booking_values(booking: Booking, timezone: str) -> dict[str, str | None]:
    """The booking variables of a reminder, in the channel's timezone."""
    local_day = booking.start_at.astimezone(ZoneInfo(timezone)).date()
    return {
        "booking_time": local_time_text(booking.start_at, timezone),
        "booking_date": local_date_text(local_day),
        "booking_service": booking.service,
        "booking_store": booking.location,
    }
