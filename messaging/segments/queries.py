"""Reads of segments for the admin API."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from messaging.segments.models import Segment


def segments(session: Session, *, shop_id: int) -> Sequence[Segment]:
    """A shop's segments by name."""
    return session.scalars(
        select(Segment).where(Segment.shop_id == shop_id).order_by(Segment.name)
    ).all()
