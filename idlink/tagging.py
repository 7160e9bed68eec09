"""Tags added and removed by hand (a staff member in the console, a script through the API),
each change audited with its author and where it came from."""

from __future__ import annotations

from sqlalchemy.orm import Session

from core import audit
from idlink import friends
from idlink.models import Friend


def add_by_hand(
    session: Session, *, friend: Friend, name: str, actor: str, ip: str | None = None
) -> bool:
    """Tag the friend on behalf of ``actor``; False (and nothing audited) when already tagged."""
    added = friends.add_tag(session, friend=friend, name=name, source=actor)
    if added:
        audit.record(
            session,
            shop_id=friend.shop_id,
            actor=actor,
            action="friend.tag_added",
            subject_type="friend",
            subject_id=friend.id,
            tag=name,
            ip=ip,
        )
    return added


def remove_by_hand(
    session: Session, *, friend: Friend, name: str, actor: str, ip: str | None = None
) -> bool:
    """Remove the friend's tag on behalf of ``actor``; False when they did not have it."""
    removed = friends.remove_tag(session, friend=friend, name=name)
    if removed:
        audit.record(
            session,
            shop_id=friend.shop_id,
            actor=actor,
            action="friend.tag_removed",
            subject_type="friend",
            subject_id=friend.id,
            tag=name,
            ip=ip,
        )
    return removed
