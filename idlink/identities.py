"""Identity resolution: which member an external customer, order or booking belongs to.

Only strong keys count — member number, LINE user id, normalised email, E.164 phone — never
names. One candidate links; several link nothing and land in the review list for staff; none
leaves the identity unmatched until a member appears or a friend links.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Select, String, UniqueConstraint, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from connectors.records import Contact
from core import crypto
from core.clock import utcnow
from core.crypto import EncryptedText
from core.db import Base
from idlink import members
from idlink.models import Friend, Member, MemberLink


class MatchStatus(enum.StrEnum):
    MATCHED = "matched"
    UNMATCHED = "unmatched"
    AMBIGUOUS = "ambiguous"


class ExternalIdentity(Base):
    """A customer as another system knows them, and the member they resolved to (if any)."""

    __tablename__ = "external_identities"

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id"), index=True)
    connection_id: Mapped[int] = mapped_column(ForeignKey("connections.id"))
    external_id: Mapped[str] = mapped_column(String(128))
    member_id: Mapped[int | None] = mapped_column(ForeignKey("members.id"), index=True)
    status: Mapped[str] = mapped_column(String(16), default=MatchStatus.UNMATCHED)
    member_number: Mapped[str | None] = mapped_column(String(64))
    line_user_id: Mapped[str | None] = mapped_column(String(33))
    email: Mapped[str | None] = mapped_column(EncryptedText)
    email_index: Mapped[str | None] = mapped_column(String(64), index=True)
    phone: Mapped[str | None] = mapped_column(EncryptedText)
    phone_index: Mapped[str | None] = mapped_column(String(64), index=True)
    name: Mapped[str | None] = mapped_column(EncryptedText)
    source_updated_at: Mapped[datetime | None]
    resolved_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (UniqueConstraint("connection_id", "external_id"),)


class IdentityReview(Base):
    """An identity that matched several members: linked to none until staff decide."""

    __tablename__ = "identity_reviews"

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id"), index=True)
    identity_id: Mapped[int] = mapped_column(ForeignKey("external_identities.id"), unique=True)
    candidate_member_ids: Mapped[list[int]] = mapped_column(JSON)
    matched_on: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    resolved_at: Mapped[datetime | None]


@dataclass(frozen=True, slots=True)
class Resolution:
    status: MatchStatus
    member_id: int | None
    candidates: dict[int, list[str]]


def _lenient(normalize: Callable[[str], str], value: str | None) -> str | None:
    """A source system's value normalised, or None when it is not valid (it matches nothing)."""
    if not value:
        return None
    try:
        return normalize(value)
    except members.InvalidMemberData:
        return None


def normalized_email(value: str | None) -> str | None:
    return _lenient(members.normalize_email, value)


def normalized_phone(value: str | None) -> str | None:
    return _lenient(members.normalize_phone, value)


def candidates_for(session: Session, *, shop_id: int, contact: Contact) -> dict[int, list[str]]:
    """Members matching any strong key of the contact, with the keys each matched on."""
    return candidates_for_many(session, shop_id=shop_id, contacts=[contact])[0]


def candidates_for_many(
    session: Session, *, shop_id: int, contacts: Sequence[Contact]
) -> list[dict[int, list[str]]]:
    """``candidates_for`` of each contact, in four queries however many contacts there are."""
    keyed: list[dict[str, str]] = []
    for contact in contacts:
        keys: dict[str, str] = {}
        if contact.member_number:
            keys["member_number"] = contact.member_number
        if contact.line_user_id:
            keys["line_user_id"] = contact.line_user_id
        email = normalized_email(contact.email)
        if email:
            keys["email"] = crypto.box().blind_index(email)
        phone = normalized_phone(contact.phone)
        if phone:
            keys["phone"] = crypto.box().blind_index(phone)
        keyed.append(keys)
    matches = {
        key: _matching(session, shop_id, key, {k[key] for k in keyed if key in k})
        for key in ("member_number", "line_user_id", "email", "phone")
    }
    found: list[dict[int, list[str]]] = []
    for keys in keyed:
        candidates: dict[int, list[str]] = {}
        for key, value in keys.items():
            for member_id in matches[key].get(value, ()):
                candidates.setdefault(member_id, []).append(key)
        found.append(candidates)
    return found


def _matching(session: Session, shop_id: int, key: str, values: set[str]) -> dict[str, list[int]]:
    """value → ids of the shop's members with that value of ``key``."""
    if not values:
        return {}
    query: Select[str | None, int]
    if key == "line_user_id":
        query = (
            select(Friend.line_user_id, MemberLink.member_id)
            .join(Friend, Friend.id == MemberLink.friend_id)
            .where(
                MemberLink.shop_id == shop_id,
                MemberLink.unlinked_at.is_(None),
                Friend.line_user_id.in_(values),
            )
        )
    else:
        column = {
            "member_number": Member.member_number,
            "email": Member.email_index,
            "phone": Member.phone_index,
        }[key]
        query = select(column, Member.id).where(Member.shop_id == shop_id, column.in_(values))
    result: dict[str, list[int]] = {}
    for value, member_id in session.execute(query):
        if value is not None:  # the IN matches no NULL, but email and phone are nullable
            result.setdefault(value, []).append(member_id)
    return result


def resolve(session: Session, *, shop_id: int, contact: Contact) -> Resolution:
    """Resolve a contact to at most one member."""
    found = candidates_for(session, shop_id=shop_id, contact=contact)
    if len(found) == 1:
        (member_id,) = found
        return Resolution(MatchStatus.MATCHED, member_id, found)
    if found:
        return Resolution(MatchStatus.AMBIGUOUS, None, found)
    return Resolution(MatchStatus.UNMATCHED, None, found)


def upsert_identity(
    session: Session,
    *,
    shop_id: int,
    connection_id: int,
    external_id: str,
    contact: Contact,
    updated_at: datetime | None = None,
    now: datetime | None = None,
) -> ExternalIdentity:
    """Record what a source system knows of a customer, and resolve it to a member."""
    identity = session.scalar(
        select(ExternalIdentity).where(
            ExternalIdentity.connection_id == connection_id,
            ExternalIdentity.external_id == external_id,
        )
    )
    if identity is None:
        identity = ExternalIdentity(
            shop_id=shop_id, connection_id=connection_id, external_id=external_id
        )
        session.add(identity)
    elif (
        updated_at is not None
        and identity.source_updated_at is not None
        and updated_at < identity.source_updated_at
    ):
        return identity
    email = normalized_email(contact.email)
    phone = normalized_phone(contact.phone)
    identity.member_number = contact.member_number
    identity.line_user_id = contact.line_user_id
    identity.email = email
    identity.email_index = crypto.box().blind_index(email) if email else None
    identity.phone = phone
    identity.phone_index = crypto.box().blind_index(phone) if phone else None
    identity.name = contact.name
    identity.source_updated_at = updated_at or identity.source_updated_at
    session.flush()
    apply_resolution(session, identity, now=now)
    return identity


def identity_contact(identity: ExternalIdentity) -> Contact:
    return Contact(
        email=identity.email,
        phone=identity.phone,
        member_number=identity.member_number,
        line_user_id=identity.line_user_id,
    )


def apply_resolution(
    session: Session, identity: ExternalIdentity, *, now: datetime | None = None
) -> bool:
    """Re-resolve one identity; True when the member it points to changed."""
    result = resolve(session, shop_id=identity.shop_id, contact=identity_contact(identity))
    changed = result.member_id != identity.member_id
    identity.status = result.status
    identity.member_id = result.member_id
    identity.resolved_at = now or utcnow()
    review = session.scalar(select(IdentityReview).where(IdentityReview.identity_id == identity.id))
    if result.status == MatchStatus.AMBIGUOUS:
        if review is None:
            review = IdentityReview(shop_id=identity.shop_id, identity_id=identity.id)
            session.add(review)
        review.candidate_member_ids = sorted(result.candidates)
        review.matched_on = {str(k): v for k, v in result.candidates.items()}
        review.resolved_at = None
    elif review is not None and review.resolved_at is None:
        review.resolved_at = now or utcnow()
    return changed


def reresolve_unmatched(
    session: Session, *, shop_id: int, now: datetime | None = None
) -> list[ExternalIdentity]:
    """Try again the identities that matched no member (a member was added, a friend linked)."""
    pending = session.scalars(
        select(ExternalIdentity).where(
            ExternalIdentity.shop_id == shop_id,
            ExternalIdentity.status != MatchStatus.MATCHED,
        )
    )
    return [identity for identity in pending if apply_resolution(session, identity, now=now)]
