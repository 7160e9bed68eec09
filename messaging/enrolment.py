"""Enrolling one friend in a step sequence by hand, from the chart or a script, and the
sequences a friend is going through."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from core import audit
from core.enqueue import enqueue_after_commit
from core.errors import BadRequest, Conflict, NotFound
from idlink.models import Friend, FriendStatus
from messaging.sequences import sequences
from messaging.sequences.models import Enrollment, EnrollmentState, Sequence


class SequenceNotFound(NotFound):
    """No sequence of that name in the shop."""


class NotEnrolable(BadRequest):
    """The sequence is paused, for another channel, or the friend blocked the channel."""


class AlreadyEnrolled(Conflict):
    """The friend is in the sequence, or its re-entry policy does not take them again."""


@dataclass(frozen=True, slots=True)
class InProgress:
    sequence: str
    next_position: int | None
    next_due_at: datetime | None


def in_progress(session: Session, friend: Friend) -> list[InProgress]:
    """The sequences the friend is going through now, with their next step."""
    rows = session.execute(
        select(Sequence.name, Enrollment.next_position, Enrollment.next_due_at)
        .join(Sequence, Sequence.id == Enrollment.sequence_id)
        .where(Enrollment.friend_id == friend.id, Enrollment.state == EnrollmentState.ACTIVE)
        .order_by(Enrollment.next_due_at)
    )
    return [InProgress(name, position, due) for name, position, due in rows]


def enrolable(session: Session, friend: Friend) -> list[str]:
    """The active sequences of the friend's channel, by name."""
    return list(
        session.scalars(
            select(Sequence.name)
            .where(Sequence.channel_id == friend.channel_id, Sequence.active.is_(True))
            .order_by(Sequence.name)
        )
    )


def enrol(
    session: Session, *, friend: Friend, name: str, actor: str, ip: str | None = None
) -> None:
    """Enrol the friend in the sequence ``name`` now; its first step is planned shortly."""
    sequence = sequences.find(session, shop_id=friend.shop_id, name=name)
    if sequence is None:
        raise SequenceNotFound(f"no sequence {name!r} in this shop: GET /sequences lists them")
    if sequence.channel_id != friend.channel_id:
        raise NotEnrolable(f"sequence {name!r} sends on another channel than this friend's")
    if not sequence.active:
        raise NotEnrolable(f"sequence {name!r} is paused")
    if friend.status != FriendStatus.FOLLOWED:
        raise NotEnrolable("this friend blocked the channel: the sequence could send nothing")
    if not sequences.enrol(session, sequence=sequence, friend_ids=[friend.id], reason="staff"):
        raise AlreadyEnrolled(
            f"already in {name!r}, or its re-entry policy ({sequence.reentry}) does not admit "
            "this friend again"
        )
    audit.record(
        session,
        shop_id=friend.shop_id,
        actor=actor,
        action="friend.sequence_enrolled",
        subject_type="friend",
        subject_id=friend.id,
        sequence=name,
        ip=ip,
    )
    enqueue_after_commit(session, "messaging.sequences")
