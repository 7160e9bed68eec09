"""Guardrails applied when planning and again just before sending.

The friend follows and has not opted out, quiet hours in the channel's timezone, frequency caps
per friend (rolling day and week), and the monthly quota. Each check answers with the reason a
delivery is held back, which is stored on the row.
"""

from __future__ import annotations

import enum
from collections.abc import Collection, Iterable
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select, text, update
from sqlalchemy.orm import Session

from core.clock import utcnow
from core.db import rows_matched
from core.inbox import InboundEvent
from idlink.models import Friend, FriendStatus
from messaging.outbox.models import (
    BatchState,
    Consent,
    Delivery,
    DeliveryBatch,
    DeliveryState,
    SendPolicy,
)
from messaging.outbox.sql import any_of, int_array, is_postgres

DAY = timedelta(days=1)
WEEK = timedelta(days=7)
# What a shop gets before it configures anything: nothing is sent at night; no caps.
DEFAULT_QUIET_START = time(22, 0)
DEFAULT_QUIET_END = time(8, 0)
BLOCKED_REASON = "friend blocked the account"
OPTED_OUT_REASON = "friend opted out of messages"


@dataclass(frozen=True, slots=True)
class Policy:
    """Quiet hours (local times; None: none) and caps (None: no cap) for one delivery source."""

    quiet_start: time | None = DEFAULT_QUIET_START
    quiet_end: time | None = DEFAULT_QUIET_END
    per_day: int | None = None
    per_week: int | None = None

    @property
    def capped(self) -> bool:
        return self.per_day is not None or self.per_week is not None


class Inherit(enum.Enum):
    """A send-policy field its policy does not set: the shorter prefix's value applies."""

    INHERIT = "inherit"


INHERIT = Inherit.INHERIT
# How a policy row says "none" for a field, as opposed to NULL, which inherits it.
NO_QUIET_HOURS = "off"
NO_CAP = 0

QuietHours = tuple[str, str] | None | Inherit
Cap = int | None | Inherit


def _quiet_field(stored: str | None) -> time | Inherit | None:
    if stored is None:
        return INHERIT
    return None if stored == NO_QUIET_HOURS else time.fromisoformat(stored)


def _cap_field(stored: int | None) -> int | Inherit | None:
    if stored is None:
        return INHERIT
    return None if stored == NO_CAP else stored


def _merged(policy: Policy, row: SendPolicy) -> Policy:
    """``policy`` with the fields ``row`` sets (quiet hours as a pair) replaced by its own."""
    quiet_start, quiet_end = _quiet_field(row.quiet_start), _quiet_field(row.quiet_end)
    if not isinstance(quiet_start, Inherit) and not isinstance(quiet_end, Inherit):
        policy = replace(policy, quiet_start=quiet_start, quiet_end=quiet_end)
    per_day, per_week = _cap_field(row.per_day), _cap_field(row.per_week)
    if not isinstance(per_day, Inherit):
        policy = replace(policy, per_day=per_day)
    if not isinstance(per_week, Inherit):
        policy = replace(policy, per_week=per_week)
    return policy


def _prefix_matches(prefix: str, source: str) -> bool:
    """Whether ``prefix`` covers ``source``, by whole parts: ``campaign:1`` is not ``:12``'s."""
    if not source.startswith(prefix):
        return False
    rest = source[len(prefix) :]
    return prefix == "" or prefix.endswith(":") or rest == "" or rest.startswith(":")


class PolicyBook:
    """A shop's send policies, read once, merged field by field.

    A source's policy starts from the built-in defaults (:class:`Policy`), then takes each
    field its matching prefixes set, shortest first: the shop's default ('') and then, say,
    ``campaign:7``. A field a prefix leaves unset follows the shorter one, as it is now.
    """

    def __init__(self, session: Session, shop_id: int) -> None:
        rows = session.scalars(select(SendPolicy).where(SendPolicy.shop_id == shop_id))
        self._by_prefix = {row.source_prefix: row for row in rows}

    def for_source(self, source: str) -> Policy:
        """The policy of ``source``: its matching prefixes' fields over the defaults."""
        policy = Policy()
        for prefix in sorted((p for p in self._by_prefix if _prefix_matches(p, source)), key=len):
            policy = _merged(policy, self._by_prefix[prefix])
        return policy


def set_policy(
    session: Session,
    *,
    shop_id: int,
    source_prefix: str = "",
    quiet_hours: QuietHours = INHERIT,
    per_day: Cap = INHERIT,
    per_week: Cap = INHERIT,
) -> SendPolicy:
    """Create or replace the policy of a source prefix ('' is the shop's default).

    Each field is a value, ``None`` (none: no quiet hours, no cap) or :data:`INHERIT` (left to
    the shorter prefix, the shop's default, or the built-in defaults: 22:00-08:00, no caps).
    """
    if isinstance(quiet_hours, tuple):
        for value in quiet_hours:
            time.fromisoformat(value)
    for cap in (per_day, per_week):
        if isinstance(cap, int) and cap < 1:
            raise ValueError(f"a frequency cap is at least 1, not {cap}: None is no cap")
    row = session.scalar(
        select(SendPolicy).where(
            SendPolicy.shop_id == shop_id, SendPolicy.source_prefix == source_prefix
        )
    )
    if row is None:
        row = SendPolicy(shop_id=shop_id, source_prefix=source_prefix)
        session.add(row)
    if isinstance(quiet_hours, Inherit):
        row.quiet_start = row.quiet_end = None
    elif quiet_hours is None:
        row.quiet_start = row.quiet_end = NO_QUIET_HOURS
    else:
        row.quiet_start, row.quiet_end = quiet_hours
    row.per_day, row.per_week = _stored_cap(per_day), _stored_cap(per_week)
    session.flush()
    return row


def _stored_cap(cap: Cap) -> int | None:
    if isinstance(cap, Inherit):
        return None
    return NO_CAP if cap is None else cap


def held_until(
    due_at: datetime, now: datetime, policy: Policy, timezone: str, *, respect_quiet_hours: bool
) -> datetime | None:
    """When quiet hours let a send due at ``due_at`` (planned ``now``) first go, or None when
    they do not hold it (it goes when due)."""
    if not respect_quiet_hours:
        return None
    return quiet_hours_end(max(due_at, now), policy, timezone)


def quiet_hours_end(moment: datetime, policy: Policy, timezone: str) -> datetime | None:
    """When quiet hours covering ``moment`` end (UTC), or None when ``moment`` is not quiet."""
    start, end = policy.quiet_start, policy.quiet_end
    if start is None or end is None or start == end:
        return None
    tz = ZoneInfo(timezone)
    local = moment.astimezone(tz)
    clock = local.time().replace(tzinfo=None)
    today = local.date()
    if start < end:
        quiet, resume_on = start <= clock < end, today
    elif clock >= start:
        quiet, resume_on = True, today + DAY
    else:
        quiet, resume_on = clock < end, today
    return _at(resume_on, end, tz) if quiet else None


def _at(day: date, at: time, tz: ZoneInfo) -> datetime:
    return datetime.combine(day, at, tzinfo=tz).astimezone(ZoneInfo("UTC"))


def quiet_reason(resume_at: datetime, timezone: str) -> str:
    local = resume_at.astimezone(ZoneInfo(timezone))
    return f"quiet hours: waits until {local:%Y-%m-%d %H:%M} {timezone}"


def set_consent(
    session: Session,
    *,
    friend: Friend,
    opted_out: bool,
    source: str,
    now: datetime | None = None,
) -> Consent:
    """Record a friend's opt-out (or opt back in); opting out suppresses what is pending."""
    now = now or utcnow()
    consent = session.get(Consent, friend.id)
    if consent is None:
        consent = Consent(friend_id=friend.id, shop_id=friend.shop_id, opted_out=opted_out)
        session.add(consent)
    consent.opted_out, consent.source, consent.changed_at = opted_out, source, now
    session.flush()
    if opted_out:
        suppress_pending(session, friend_ids=[friend.id], reason=OPTED_OUT_REASON, now=now)
    return consent


def day_cap_reason(per_day: int) -> str:
    return f"frequency cap: {per_day} per day reached"


def week_cap_reason(per_week: int) -> str:
    return f"frequency cap: {per_week} per week reached"


def over_caps(
    session: Session,
    friend_ids: Collection[int],
    policy: Policy,
    *,
    now: datetime,
    already: dict[int, int] | None = None,
) -> dict[int, str]:
    """Friends who reached a cap: sent messages in the last day/week (plus ``already`` now).

    Sent messages are the friend's own deliveries and the audience sends that reached them.
    """
    if not policy.capped or not friend_ids:
        return {}
    week_ago, day_ago = now - WEEK, now - DAY
    rows = session.execute(
        select(
            Delivery.friend_id,
            func.count(),
            func.count().filter(Delivery.sent_at > day_ago),
        )
        .where(
            any_of(session, Delivery.friend_id, friend_ids),
            Delivery.state == DeliveryState.SENT,
            Delivery.sent_at > week_ago,
        )
        .group_by(Delivery.friend_id)
    )
    sent = {friend_id: [week, day] for friend_id, week, day in rows}
    for friend_id, week, day in audience_sent_counts(session, friend_ids, now=now):
        counts = sent.setdefault(friend_id, [0, 0])
        counts[0] += week
        counts[1] += day
    capped: dict[int, str] = {}
    for friend_id in friend_ids:
        week, day = sent.get(friend_id, (0, 0))
        extra = (already or {}).get(friend_id, 0)
        if policy.per_day is not None and day + extra >= policy.per_day:
            capped[friend_id] = day_cap_reason(policy.per_day)
        elif policy.per_week is not None and week + extra >= policy.per_week:
            capped[friend_id] = week_cap_reason(policy.per_week)
    return capped


def audience_sent_counts(
    session: Session, friend_ids: Collection[int], *, now: datetime
) -> list[tuple[int, int, int]]:
    """(friend, sent in the week, sent in the day) from audience batches sent in the week.

    Audience sends keep no row per friend: the batches sent in the last week are unnested and
    matched against ``friend_ids`` (a partial index finds them; the cost grows with the week's
    audience volume, not with the number of friends asked about).
    """
    week_ago, day_ago = now - WEEK, now - DAY
    if is_postgres(session):
        rows = session.execute(
            _AUDIENCE_SENT_COUNTS,
            {"ids": int_array(friend_ids), "week_ago": week_ago, "day_ago": day_ago},
        )
        return [(friend_id, week, day) for friend_id, week, day in rows]
    wanted = set(friend_ids)
    counts: dict[int, list[int]] = {}
    batches = session.execute(
        select(DeliveryBatch.friend_ids, DeliveryBatch.sent_at).where(
            DeliveryBatch.audience_send_id.is_not(None),
            DeliveryBatch.state == BatchState.SENT,
            DeliveryBatch.sent_at > week_ago,
        )
    )
    for members, sent_at in batches:
        assert sent_at is not None  # only sent batches, each with its sending time
        for friend_id in wanted.intersection(members or ()):
            counts.setdefault(friend_id, [0, 0])
            counts[friend_id][0] += 1
            counts[friend_id][1] += sent_at > day_ago
    return [(friend_id, week, day) for friend_id, (week, day) in counts.items()]


_AUDIENCE_SENT_COUNTS = text(
    """
    SELECT f, count(*), count(*) FILTER (WHERE b.sent_at > :day_ago)
    FROM delivery_batches AS b CROSS JOIN LATERAL unnest(b.friend_ids) AS f
    WHERE b.audience_send_id IS NOT NULL AND b.state = 'sent' AND b.sent_at > :week_ago
      AND f IN (SELECT unnest(CAST(:ids AS bigint[])))
    GROUP BY f
    """
)


def suppress_pending(
    session: Session, *, friend_ids: Iterable[int], reason: str, now: datetime | None = None
) -> int:
    """Suppress the friends' deliveries not yet handed to LINE; return how many."""
    ids = list(friend_ids)
    if not ids:
        return 0
    result = session.execute(
        update(Delivery)
        .where(
            Delivery.friend_id.in_(ids),
            Delivery.state.in_([DeliveryState.PENDING, DeliveryState.HELD]),
            Delivery.batch_id.is_(None),
        )
        .values(state=DeliveryState.SUPPRESSED, reason=reason, updated_at=now or utcnow())
        .execution_options(synchronize_session=False)
    )
    return rows_matched(result)


def suppress_for_unfollow(
    session: Session, *, channel_id: int, line_user_id: str, now: datetime | None = None
) -> int:
    """After an unfollow: suppress everything pending for that friend (if they still block)."""
    friend = session.scalar(
        select(Friend).where(Friend.channel_id == channel_id, Friend.line_user_id == line_user_id)
    )
    if friend is None or friend.status != FriendStatus.BLOCKED:
        return 0
    return suppress_pending(session, friend_ids=[friend.id], reason=BLOCKED_REASON, now=now)


def suppress_blocked(session: Session, *, now: datetime | None = None) -> int:
    """Suppress pending deliveries of friends who blocked the account in the last day.

    The sweeper's safety net behind the unfollow hook; the claim checks every friend anyway.
    Looking back one day keeps it an index look-up of a few friends, not a scan of the queue.
    """
    now = now or utcnow()
    recently_blocked = select(Friend.id).where(
        Friend.status == FriendStatus.BLOCKED, Friend.blocked_at > now - DAY
    )
    result = session.execute(
        update(Delivery)
        .where(
            Delivery.friend_id.in_(recently_blocked),
            text("deliveries.state = 'pending'"),
            Delivery.batch_id.is_(None),
        )
        .values(state=DeliveryState.SUPPRESSED, reason=BLOCKED_REASON, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    return rows_matched(result)


def on_line_event(session: Session, event: InboundEvent) -> int:
    """Hook for processed LINE events: an unfollow suppresses what is pending for the friend."""
    user_id = (event.payload.get("source") or {}).get("userId")
    if event.event_type != "unfollow" or event.channel_id is None or user_id is None:
        return 0
    return suppress_for_unfollow(session, channel_id=event.channel_id, line_user_id=user_id)
