"""The guardrails once more, on per-friend deliveries just claimed: what may not go out now.

A friend who blocked the account or opted out since planning is suppressed; quiet hours defer a
delivery to their end; a friend over a frequency cap (counting this claim's other deliveries
too) is suppressed with the cap in the reason.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from core.tenancy import Channel
from idlink.models import FriendStatus
from messaging.outbox import consent, guardrails
from messaging.outbox.models import Delivery, DeliveryState
from messaging.outbox.sql import any_of


@dataclass(slots=True)
class Due:
    """A locked due delivery, with what the guardrails need to judge it."""

    id: int
    shop_id: int
    channel_id: int
    friend_id: int
    source: str
    content_hash: str
    respect_quiet_hours: bool
    friend_status: str


def apply_guardrails(session: Session, rows: list[Due], now: datetime) -> list[Due]:
    """Suppress or defer what may no longer be sent now; return the rest."""
    outcome: dict[int, tuple[str, str | None, datetime | None]] = {}
    for row in rows:
        if row.friend_status != FriendStatus.FOLLOWED:
            outcome[row.id] = (DeliveryState.SUPPRESSED, guardrails.BLOCKED_REASON, None)
    alive = [r for r in rows if r.id not in outcome]
    for source in {r.source for r in alive}:
        of_source = [r for r in alive if r.source == source]
        withheld = consent.withheld(session, {r.friend_id for r in of_source}, source=source)
        for row in of_source:
            if row.friend_id in withheld:
                outcome[row.id] = (DeliveryState.SUPPRESSED, withheld[row.friend_id], None)
    alive = [r for r in alive if r.id not in outcome]
    outcome.update(_policy_outcomes(session, alive, now))
    _write_outcomes(session, outcome, now)
    return [r for r in rows if r.id not in outcome]


def _policy_outcomes(
    session: Session, rows: list[Due], now: datetime
) -> dict[int, tuple[str, str | None, datetime | None]]:
    """Quiet hours (defer to their end) and frequency caps (suppress), per source's policy."""
    outcome: dict[int, tuple[str, str | None, datetime | None]] = {}
    timezones = dict(
        session.execute(
            select(Channel.id, Channel.timezone).where(Channel.id.in_({r.channel_id for r in rows}))
        ).all()
    )
    by_policy: dict[tuple[int, str], list[Due]] = defaultdict(list)
    for row in rows:
        by_policy[(row.shop_id, row.source)].append(row)
    books: dict[int, guardrails.PolicyBook] = {}
    for (shop_id, source), group in by_policy.items():
        book = books.get(shop_id) or books.setdefault(
            shop_id, guardrails.PolicyBook(session, shop_id)
        )
        policy = book.for_source(source)
        counted: dict[int, int] = defaultdict(int)
        capped = guardrails.over_caps(session, {r.friend_id for r in group}, policy, now=now)
        for row in group:
            timezone = timezones[row.channel_id]
            resume_at = (
                guardrails.quiet_hours_end(now, policy, timezone)
                if row.respect_quiet_hours
                else None
            )
            if resume_at is not None:
                reason = guardrails.quiet_reason(resume_at, timezone)
                outcome[row.id] = (DeliveryState.PENDING, reason, resume_at)
            elif row.friend_id in capped or _over_within_claim(policy, counted, row.friend_id):
                reason = capped.get(row.friend_id) or "frequency cap reached"
                outcome[row.id] = (DeliveryState.SUPPRESSED, reason, None)
            counted[row.friend_id] += 1
    return outcome


def _over_within_claim(policy: guardrails.Policy, counted: dict[int, int], friend_id: int) -> bool:
    """Several deliveries of one friend in a single claim count against the caps together."""
    limits = [c for c in (policy.per_day, policy.per_week) if c is not None]
    return bool(limits) and counted[friend_id] >= min(limits)


def _write_outcomes(
    session: Session, outcome: dict[int, tuple[str, str | None, datetime | None]], now: datetime
) -> None:
    grouped: dict[tuple[str, str | None, datetime | None], list[int]] = defaultdict(list)
    for delivery_id, result in outcome.items():
        grouped[result].append(delivery_id)
    for (state, reason, next_at), ids in grouped.items():
        values: dict[str, Any] = {"state": state, "reason": reason, "updated_at": now}
        if next_at is not None:
            values["next_attempt_at"] = next_at
        session.execute(
            update(Delivery)
            .where(any_of(session, Delivery.id, ids))
            .values(**values)
            .execution_options(synchronize_session=False)
        )
