"""The owner of a friend (担当者): a staff member of the shop, set or cleared by staff or a
script, audited with who did it."""

from __future__ import annotations

from pydantic import BaseModel, Field
from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from core import audit
from core.clock import utcnow
from core.errors import BadRequest
from crm.models import FriendOwner
from idlink.models import Friend
from staff.models import StaffRole, StaffUser
from staff.service import normalize_email


class OwnerIn(BaseModel):
    """Who owns the friend: a staff member's email, or null (nobody)."""

    email: str | None = Field(None, max_length=254)


class NotShopStaff(BadRequest):
    """The owner must be a staff member of the friend's shop."""


def shop_staff(session: Session, shop_id: int) -> list[tuple[int, str]]:
    """The shop's active staff who can own friends, as (id, email), by email."""
    return [
        (user_id, email)
        for user_id, email in session.execute(
            select(StaffUser.id, StaffUser.email)
            .join(StaffRole, StaffRole.user_id == StaffUser.id)
            .where(StaffRole.shop_id == shop_id, StaffUser.disabled.is_(False))
            .order_by(StaffUser.email)
        )
    ]


def owner_of(session: Session, friend: Friend) -> str | None:
    """The owner's email, if the friend has one."""
    return session.scalar(
        select(StaffUser.email)
        .join(FriendOwner, FriendOwner.staff_user_id == StaffUser.id)
        .where(FriendOwner.friend_id == friend.id, FriendOwner.shop_id == friend.shop_id)
    )


def set_owner(
    session: Session, *, friend: Friend, email: str | None, actor: str, ip: str | None = None
) -> str | None:
    """Make ``email`` (a staff member of the shop) the friend's owner, or clear it (None)."""
    wanted = normalize_email(email) if email and email.strip() else None
    current = session.get(FriendOwner, friend.id)
    before = owner_of(session, friend)
    if wanted == before:
        return before
    if current is not None:
        session.delete(current)
        session.flush()
    if wanted is not None:
        staff = dict((e, i) for i, e in shop_staff(session, friend.shop_id))
        if wanted not in staff:
            raise NotShopStaff(f"{wanted} is not a staff member of this shop")
        session.add(
            FriendOwner(
                friend_id=friend.id,
                shop_id=friend.shop_id,
                staff_user_id=staff[wanted],
                assigned_by=actor,
                assigned_at=utcnow(),
            )
        )
        session.flush()
    audit.record(
        session,
        shop_id=friend.shop_id,
        actor=actor,
        action="friend.owner_set",
        subject_type="friend",
        subject_id=friend.id,
        owner=wanted,
        before=before,
        ip=ip,
    )
    return wanted


def owned_by(query: Select[Friend], shop_id: int, email: str) -> Select[Friend]:
    """Narrow a friends query to those ``email`` owns."""
    return query.where(
        Friend.id.in_(
            select(FriendOwner.friend_id)
            .join(StaffUser, StaffUser.id == FriendOwner.staff_user_id)
            .where(FriendOwner.shop_id == shop_id, StaffUser.email == normalize_email(email))
        )
    )
