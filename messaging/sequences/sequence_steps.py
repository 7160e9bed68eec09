"""Running step sequences: enrol, apply exits, then plan every step that has fallen due.

Each active sequence, on every run of the beat task ``messaging.sequences``:

1. enrols the friends its follow, link or tag events bring (``sequences.discover``);
2. ends the enrolments an exit condition now holds for (blocked, purchased since enrolling,
   unlinked since enrolling, a tag added), cancelling their planned but unsent steps;
3. plans each due step as a delivery keyed ``sequence:{sequence}:{enrolment}:{position}``, so a
   step planned twice (a re-run, two workers) is sent once, and moves the enrolment to its next
   step (due at that step's delay from the enrolment) or completes it. A step whose previous one
   is still on its way waits for a later run, so steps that fell due together arrive in order.

Exits are applied right before steps are planned, in the same transaction, so a friend who
bought or blocked is never sent the next step.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, exists, select
from sqlalchemy.orm import Session

from commerce.models import Purchase
from config import Settings
from core.clock import utcnow
from core.tenancy import Channel
from idlink.models import Friend, FriendStatus, FriendTag, MemberLink, Tag
from messaging.compose import compose
from messaging.outbox.models import Delivery, DeliveryState
from messaging.sequences import sequences
from messaging.sequences.models import Enrollment, EnrollmentState, Sequence, SequenceStep

# Due enrolments taken per query (each is then planned in bulk, step by step).
STEP_BATCH = 5_000
_ON_ITS_WAY = (DeliveryState.PENDING, DeliveryState.SENDING, DeliveryState.HELD)


@dataclass(slots=True)
class RunResult:
    enrolled: int = 0
    exited: Counter[str] = field(default_factory=Counter)
    planned: int = 0
    completed: int = 0

    def add(self, other: RunResult) -> None:
        self.enrolled += other.enrolled
        self.exited.update(other.exited)
        self.planned += other.planned
        self.completed += other.completed


def run(session: Session, *, settings: Settings, now: datetime | None = None) -> RunResult:
    """Run every active sequence once (see the module's docstring)."""
    now = now or utcnow()
    total = RunResult()
    active = session.scalars(
        select(Sequence).where(Sequence.active.is_(True)).order_by(Sequence.id)
    ).all()
    for sequence in active:
        total.add(run_sequence(session, sequence=sequence, settings=settings, now=now))
    return total


def run_sequence(
    session: Session, *, sequence: Sequence, settings: Settings, now: datetime | None = None
) -> RunResult:
    """Enrol, exit and plan the due steps of one sequence."""
    now = now or utcnow()
    result = RunResult(enrolled=sequences.discover(session, sequence=sequence, now=now))
    result.exited = apply_exits(session, sequence=sequence, now=now)
    _plan_due_steps(session, sequence, settings, now, result)
    return result


def apply_exits(session: Session, *, sequence: Sequence, now: datetime) -> Counter[str]:
    """End the active enrolments an exit condition holds for; count them by reason."""
    exited: Counter[str] = Counter()
    for condition in sequence.exit_on:
        reason, holds = _exit_condition(condition, sequence)
        ids = session.scalars(
            select(Enrollment.id).where(
                Enrollment.sequence_id == sequence.id,
                Enrollment.state == EnrollmentState.ACTIVE,
                holds,
            )
        ).all()
        if ids:
            exited[reason] += sequences.end_enrollments(
                session, sequence=sequence, enrollment_ids=ids, reason=reason, now=now
            )
    return exited


def _exit_condition(condition: Any, sequence: Sequence) -> tuple[str, ColumnElement[bool]]:
    friend_id = Enrollment.friend_id
    active_link = exists(
        select(MemberLink.id).where(
            MemberLink.friend_id == friend_id, MemberLink.unlinked_at.is_(None)
        )
    )
    if condition == "blocked":
        return "blocked", exists(
            select(Friend.id).where(Friend.id == friend_id, Friend.status == FriendStatus.BLOCKED)
        )
    if condition == "purchased":
        return "purchased", exists(
            select(Purchase.id)
            .join(MemberLink, MemberLink.member_id == Purchase.member_id)
            .where(
                MemberLink.friend_id == friend_id,
                MemberLink.unlinked_at.is_(None),
                Purchase.ordered_at > Enrollment.enrolled_at,
                Purchase.cancelled_at.is_(None),
                Purchase.test.is_(False),
            )
        )
    if condition == "unlinked":
        ended_since = exists(
            select(MemberLink.id).where(
                MemberLink.friend_id == friend_id,
                MemberLink.unlinked_at > Enrollment.enrolled_at,
            )
        )
        return "unlinked", ended_since & ~active_link
    tag = condition["tag_added"]
    return f"tag_added:{tag}", exists(
        select(FriendTag.friend_id)
        .join(Tag, Tag.id == FriendTag.tag_id)
        .where(FriendTag.friend_id == friend_id, Tag.shop_id == sequence.shop_id, Tag.name == tag)
    )


def _plan_due_steps(
    session: Session, sequence: Sequence, settings: Settings, now: datetime, result: RunResult
) -> None:
    steps = {s.position: s for s in sequences.steps_of(session, sequence)}
    channel = session.get_one(Channel, sequence.channel_id)
    waiting: set[int] = set()
    # Each pass moves every enrolment it takes one step on, or sets it aside: the loop ends.
    while True:
        due = session.scalars(
            select(Enrollment)
            .where(
                Enrollment.sequence_id == sequence.id,
                Enrollment.state == EnrollmentState.ACTIVE,
                Enrollment.next_due_at <= now,
                Enrollment.id.not_in(waiting),
            )
            .order_by(Enrollment.next_due_at, Enrollment.id)
            .limit(STEP_BATCH)
            .with_for_update(skip_locked=True)
        ).all()
        if not due:
            return
        behind = _previous_step_unsent(session, sequence, steps, due)
        waiting.update(behind)
        by_position: dict[int | None, list[Enrollment]] = defaultdict(list)
        for enrollment in due:
            if enrollment.id not in behind:
                by_position[enrollment.next_position].append(enrollment)
        for position, group in by_position.items():
            step = steps.get(position) if position is not None else None
            if step is not None:
                result.planned += _plan_step(session, sequence, channel, step, group, settings, now)
            for enrollment in group:
                result.completed += _advance(enrollment, steps, channel.timezone, now)
        session.flush()


def _previous_step_unsent(
    session: Session,
    sequence: Sequence,
    steps: dict[int, SequenceStep],
    enrollments: Iterable[Enrollment],
) -> set[int]:
    """The enrolments whose previous step is still on its way to LINE.

    Their next step waits for a later run: steps that fell due together (a friend enrolled
    days ago, a worker that was down) still reach the phone in their order.
    """
    previous: dict[str, int] = {}
    for enrollment in enrollments:
        current = enrollment.next_position
        earlier = [p for p in steps if current is not None and p < current]
        if earlier:
            previous[sequences.step_key(sequence.id, enrollment.id, max(earlier))] = enrollment.id
    if not previous:
        return set()
    open_keys = session.scalars(
        select(Delivery.idempotency_key).where(
            Delivery.idempotency_key.in_(list(previous)),
            Delivery.state.in_(_ON_ITS_WAY),
        )
    )
    return {previous[key] for key in open_keys}


def _plan_step(
    session: Session,
    sequence: Sequence,
    channel: Channel,
    step: SequenceStep,
    group: list[Enrollment],
    settings: Settings,
    now: datetime,
) -> int:
    keys = {e.friend_id: sequences.step_key(sequence.id, e.id, step.position) for e in group}
    send = compose.TemplateSend(
        channel=channel,
        template=step.messages,
        source=sequence.source,
        links=compose.Links(public_url=settings.public_url),
        due_at=now,
        respect_quiet_hours=step.respect_quiet_hours,
    )
    planned = compose.plan_template(
        session, send, friend_ids=list(keys), idempotency_key_for=keys.__getitem__, now=now
    )
    return planned.planned


def _advance(
    enrollment: Enrollment, steps: dict[int, SequenceStep], timezone: str, now: datetime
) -> int:
    """Point the enrolment at its next step; complete it after the last (returns 1 then)."""
    current = enrollment.next_position
    later = sorted(p for p in steps if current is not None and p > current)
    if later:
        following = steps[later[0]]
        enrollment.next_position = following.position
        enrollment.next_due_at = compose.due_after(
            enrollment.enrolled_at, following.delay, timezone
        )
        return 0
    enrollment.state = EnrollmentState.COMPLETED
    enrollment.next_position = None
    enrollment.next_due_at = None
    enrollment.finished_at = now
    return 1
