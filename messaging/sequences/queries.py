"""Reads of step sequences for the admin API."""

from __future__ import annotations

from collections.abc import Sequence as Rows

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from messaging.sequences.models import Enrollment, Sequence


def sequences(session: Session, *, shop_id: int) -> Rows[Sequence]:
    """A shop's step sequences by name."""
    return session.scalars(
        select(Sequence).where(Sequence.shop_id == shop_id).order_by(Sequence.name)
    ).all()


def enrollments_by_state(session: Session, *, sequence_id: int) -> dict[str, int]:
    """How many friends a sequence has in each enrolment state."""
    rows = session.execute(
        select(Enrollment.state, func.count())
        .where(Enrollment.sequence_id == sequence_id)
        .group_by(Enrollment.state)
    )
    return {state: count for state, count in rows}
