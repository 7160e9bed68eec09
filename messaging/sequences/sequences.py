"""Step sequences: definitions, and enrolment of friends by follow, link, tag or purchase.

Follows, links and tags are found in the database, not in the events: the beat task
``messaging.sequences`` scans ``Friend.last_followed_at``, ``MemberLink.linked_at`` and
``FriendTag.created_at`` from the sequence's cursor (less a margin for events processed late),
and a processed follow or account-link event nudges it. Scanning the same event twice enrols
once: an event enrols only when the re-entry policy admits it and it is newer than the friend's
last enrolment. Purchase sequences are enrolled by the purchase matching, through ``enrol``.

Steps are planned by ``messaging.sequence_steps``.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, and_, delete, exists, func, literal, or_, select, update
from sqlalchemy.orm import Session

from core import audit
from core.clock import utcnow
from core.db import UTCDateTime, insert
from core.enqueue import enqueue_after_commit
from core.errors import Conflict
from core.inbox import InboundEvent
from core.tenancy import Channel
from idlink import tagging
from idlink.models import Friend, FriendStatus, FriendTag, MemberLink, Tag
from messaging.compose import compose, templates
from messaging.outbox.models import Delivery, DeliveryState
from messaging.outbox.sql import any_of
from messaging.sequences.models import Enrollment, EnrollmentState, Reentry, Sequence, SequenceStep
from messaging.sequences.schemas import SequenceSpec

TASK = "messaging.sequences"
# A scan looks this far behind its cursor: an event processed late (inbox retries) still enrols.
LATE_EVENTS = timedelta(days=1)
_NUDGING_EVENTS = frozenset({"follow", "accountLink"})


class SequenceConflict(Conflict):
    """The sequence cannot be changed that way (e.g. moved to another channel)."""


def save(
    session: Session,
    *,
    shop_id: int,
    channel: Channel,
    spec: SequenceSpec,
    actor: str,
    now: datetime | None = None,
) -> Sequence:
    """Create the sequence named ``spec.name`` or bring it up to the spec; templates checked.

    Only events from the (re)activation on enrol. Steps are replaced by position: an active
    enrolment continues at its next position under the new steps.
    """
    now = now or utcnow()
    available = {*templates.FRIEND_VARIABLES, *compose.field_variables(session, shop_id)}
    checked = [templates.check(step.messages, available=available) for step in spec.steps]
    sequence = find(session, shop_id=shop_id, name=spec.name)
    created = sequence is None
    if sequence is None:
        sequence = Sequence(
            shop_id=shop_id, name=spec.name, created_at=now, active_since=now, cursor_at=now
        )
        session.add(sequence)
    elif sequence.channel_id != channel.id:
        raise SequenceConflict(f"sequence {spec.name!r} sends from another channel; use a new name")
    elif spec.active and not sequence.active:
        sequence.active_since = sequence.cursor_at = now
    sequence.channel_id = channel.id
    sequence.enroll_on = spec.enroll_on.model_dump(mode="json", exclude_none=True)
    sequence.exit_on = [
        c if isinstance(c, str) else c.model_dump(mode="json") for c in spec.exit_on
    ]
    sequence.reentry = spec.reentry
    sequence.active = spec.active
    sequence.updated_at = now
    session.flush()
    session.execute(delete(SequenceStep).where(SequenceStep.sequence_id == sequence.id))
    for position, (step, messages) in enumerate(zip(spec.steps, checked, strict=True), start=1):
        session.add(
            SequenceStep(
                sequence_id=sequence.id,
                position=position,
                delay=step.delay.model_dump(exclude_defaults=True),
                messages=messages,
                respect_quiet_hours=step.respect_quiet_hours,
            )
        )
    session.flush()
    audit.record_written(
        session,
        shop_id=shop_id,
        actor=actor,
        subject_type="sequence",
        subject_id=sequence.id,
        created=created,
        now=now,
    )
    return sequence


def find(session: Session, *, shop_id: int, name: str) -> Sequence | None:
    return session.scalar(
        select(Sequence).where(Sequence.shop_id == shop_id, Sequence.name == name)
    )


def steps_of(session: Session, sequence: Sequence) -> list[SequenceStep]:
    return list(
        session.scalars(
            select(SequenceStep)
            .where(SequenceStep.sequence_id == sequence.id)
            .order_by(SequenceStep.position)
        )
    )


def spec_of(session: Session, sequence: Sequence, channel: Channel) -> dict[str, Any]:
    """The sequence as a spec (JSON-ready), the form ``save`` takes."""
    return SequenceSpec.model_validate(
        {
            "name": sequence.name,
            "channel": channel.line_channel_id,
            "enroll_on": sequence.enroll_on,
            "exit_on": sequence.exit_on,
            "reentry": sequence.reentry,
            "active": sequence.active,
            "steps": [
                {
                    "delay": s.delay,
                    "messages": s.messages,
                    "respect_quiet_hours": s.respect_quiet_hours,
                }
                for s in steps_of(session, sequence)
            ],
        }
    ).model_dump(mode="json", exclude_defaults=True)


def purchase_enrolled(session: Session) -> list[Sequence]:
    """The active sequences that a purchase enrols in (``messaging.triggers`` reads them)."""
    active = session.scalars(select(Sequence).where(Sequence.active.is_(True))).all()
    return [s for s in active if s.enroll_on.get("event") == "purchase"]


def enrol(
    session: Session,
    *,
    sequence: Sequence,
    friend_ids: Collection[int],
    reason: str,
    now: datetime | None = None,
) -> int:
    """Enrol these friends of the sequence's channel as of ``now`` (the event's time).

    The re-entry policy applies; the same friends enrolled again at the same ``now`` (a
    re-run for the same purchase) enrol nothing new. Returns how many were enrolled.
    """
    now = now or utcnow()
    if not sequence.active or not friend_ids:
        return 0
    events = select(Friend.id, literal(now, UTCDateTime()).label("event_at")).where(
        Friend.channel_id == sequence.channel_id, any_of(session, Friend.id, friend_ids)
    )
    return _admit(session, sequence, events, reason=reason, now=now)


def discover(session: Session, *, sequence: Sequence, now: datetime | None = None) -> int:
    """Enrol the friends whose follow, link or tag since the cursor starts the sequence."""
    now = now or utcnow()
    events = _events(sequence, since=_scan_from(sequence), until=now)
    enrolled = 0
    if events is not None:
        enrolled = _admit(session, sequence, events, reason=_reason(sequence), now=now)
    sequence.cursor_at = max(sequence.cursor_at, now)
    return enrolled


def _scan_from(sequence: Sequence) -> datetime:
    return max(sequence.active_since, sequence.cursor_at - LATE_EVENTS)


def _reason(sequence: Sequence) -> str:
    trigger = sequence.enroll_on
    return f"tag:{trigger['tag']}" if trigger["event"] == "tag" else str(trigger["event"])


def _events(
    sequence: Sequence, *, since: datetime, until: datetime
) -> Select[int, datetime | None] | None:
    """(friend id, event time) of the enrolling events in the window, one row per friend."""
    event = sequence.enroll_on["event"]
    if event == "follow":
        at = Friend.last_followed_at
        return select(Friend.id, at.label("event_at")).where(
            Friend.channel_id == sequence.channel_id,
            Friend.status == FriendStatus.FOLLOWED,
            at >= since,
            at <= until,
        )
    if event == "link":
        at = MemberLink.linked_at
        return (
            select(MemberLink.friend_id, func.max(at).label("event_at"))
            .join(Friend, Friend.id == MemberLink.friend_id)
            .where(
                Friend.channel_id == sequence.channel_id,
                MemberLink.unlinked_at.is_(None),
                at >= since,
                at <= until,
            )
            .group_by(MemberLink.friend_id)
        )
    if event == "tag":
        at = FriendTag.created_at
        return (
            select(FriendTag.friend_id, func.max(at).label("event_at"))
            .join(Tag, Tag.id == FriendTag.tag_id)
            .join(Friend, Friend.id == FriendTag.friend_id)
            .where(
                Friend.channel_id == sequence.channel_id,
                Tag.shop_id == sequence.shop_id,
                Tag.name == sequence.enroll_on["tag"],
                at >= since,
                at <= until,
            )
            .group_by(FriendTag.friend_id)
        )
    return None


def _admit(
    session: Session,
    sequence: Sequence,
    events: Select[int, datetime | None],
    *,
    reason: str,
    now: datetime,
) -> int:
    """Enrol the friends of ``events`` the re-entry policy admits; one query decides."""
    event = events.subquery()
    friend_id, event_at = event.c[0], event.c.event_at
    latest = (
        select(
            Enrollment.friend_id,
            func.max(Enrollment.generation).label("generation"),
            func.max(Enrollment.enrolled_at).label("enrolled_at"),
        )
        .where(Enrollment.sequence_id == sequence.id)
        .group_by(Enrollment.friend_id)
        .subquery()
    )
    active = exists(
        select(Enrollment.id).where(
            Enrollment.sequence_id == sequence.id,
            Enrollment.friend_id == friend_id,
            Enrollment.state == EnrollmentState.ACTIVE,
        )
    )
    first_time = latest.c.friend_id.is_(None)
    newer = event_at > latest.c.enrolled_at
    admitted = {
        Reentry.NEVER: first_time,
        Reentry.AFTER_EXIT: or_(first_time, and_(newer, ~active)),
        Reentry.ALWAYS: or_(first_time, newer),
    }[Reentry(sequence.reentry)]
    # In friend order: two workers enrolling the same friends (a follow read twice) then take
    # the unique index's locks in the same order, and one waits instead of deadlocking.
    rows = sorted(
        session.execute(
            select(friend_id, event_at, func.coalesce(latest.c.generation, 0))
            .outerjoin(latest, latest.c.friend_id == friend_id)
            .where(admitted)
        ).all()
    )
    if not rows:
        return 0
    if sequence.reentry == Reentry.ALWAYS:
        end_enrollments(
            session,
            sequence=sequence,
            friend_ids=[row[0] for row in rows],
            reason="re-entered",
            now=now,
        )
    steps = steps_of(session, sequence)
    timezone = session.get_one(Channel, sequence.channel_id).timezone
    values = []
    for fid, at, generation in rows:
        first = steps[0] if steps else None
        values.append(
            {
                "sequence_id": sequence.id,
                "friend_id": fid,
                "generation": generation + 1,
                "state": EnrollmentState.ACTIVE if first else EnrollmentState.COMPLETED,
                "reason": reason,
                "enrolled_at": at,
                "next_position": first.position if first else None,
                "next_due_at": compose.due_after(at, first.delay, timezone) if first else None,
                "created_at": now,
            }
        )
    statement = insert(session, Enrollment).on_conflict_do_nothing(
        index_elements=["sequence_id", "friend_id", "generation"]
    )
    result = session.execute(statement.returning(Enrollment.id), values)
    return len(result.all())


def end_enrollments(
    session: Session,
    *,
    sequence: Sequence,
    friend_ids: Collection[int] | None = None,
    enrollment_ids: Collection[int] | None = None,
    reason: str,
    now: datetime,
) -> int:
    """Exit active enrolments (of these friends, or these ids) and cancel their unsent steps."""
    where = [Enrollment.sequence_id == sequence.id, Enrollment.state == EnrollmentState.ACTIVE]
    if friend_ids is not None:
        where.append(any_of(session, Enrollment.friend_id, friend_ids))
    if enrollment_ids is not None:
        where.append(any_of(session, Enrollment.id, enrollment_ids))
    ended = session.execute(select(Enrollment.id, Enrollment.next_position).where(*where)).all()
    if not ended:
        return 0
    session.execute(
        update(Enrollment)
        .where(any_of(session, Enrollment.id, [e for e, _ in ended]))
        .values(
            state=EnrollmentState.EXITED,
            exit_reason=reason,
            finished_at=now,
            next_due_at=None,
        )
        .execution_options(synchronize_session=False)
    )
    _cancel_planned_steps(session, sequence, ended, reason=reason, now=now)
    return len(ended)


def _cancel_planned_steps(
    session: Session,
    sequence: Sequence,
    ended: Collection[tuple[int, int | None]],
    *,
    reason: str,
    now: datetime,
) -> None:
    """Cancel what was planned and not handed to LINE: at most the steps before the next one."""
    last = session.scalar(
        select(func.max(SequenceStep.position)).where(SequenceStep.sequence_id == sequence.id)
    )
    keys = [
        step_key(sequence.id, enrollment_id, position)
        for enrollment_id, next_position in ended
        for position in range(1, next_position or (last or 0) + 1)
    ]
    for start in range(0, len(keys), 10_000):
        session.execute(
            update(Delivery)
            .where(
                Delivery.idempotency_key.in_(keys[start : start + 10_000]),
                Delivery.state.in_([DeliveryState.PENDING, DeliveryState.HELD]),
                Delivery.batch_id.is_(None),
            )
            .values(
                state=DeliveryState.CANCELLED,
                reason=f"sequence exited: {reason}",
                updated_at=now,
            )
            .execution_options(synchronize_session=False)
        )


def step_key(sequence_id: int, enrollment_id: int, position: int) -> str:
    """The idempotency key of one step of one enrolment."""
    return f"sequence:{sequence_id}:{enrollment_id}:{position}"


def on_line_event(session: Session, event: InboundEvent) -> None:
    """After a follow or account link is processed, enrol without waiting for the beat."""
    if event.event_type not in _NUDGING_EVENTS or event.channel_id is None:
        return
    listening = session.scalar(
        select(exists().where(Sequence.channel_id == event.channel_id, Sequence.active.is_(True)))
    )
    if listening:
        enqueue_after_commit(session, TASK)


@tagging.names_tags("sequences")
def _rename_tag(session: Session, shop_id: int, old: str, new: str) -> int:
    rows = session.scalars(select(Sequence).where(Sequence.shop_id == shop_id))
    keys = frozenset({"tag", "tag_added"})
    return tagging.rename_in_rows(rows, ("enroll_on", "exit_on"), keys, old, new)
