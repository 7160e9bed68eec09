"""One person as the hub knows them: their friends (one per channel), their members, and the
identities other systems gave them — found from a friend or a member, within one shop."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from core.errors import NotFound
from idlink.identities import ExternalIdentity
from idlink.models import Friend, Member, MemberLink


class PersonNotFound(NotFound):
    """No friend or member with this id or number in the shop."""


@dataclass(slots=True)
class Person:
    """Everything that names one person in a shop."""

    shop_id: int
    friends: list[Friend] = field(default_factory=list)
    members: list[Member] = field(default_factory=list)
    identities: list[ExternalIdentity] = field(default_factory=list)

    @property
    def friend_ids(self) -> list[int]:
        return [f.id for f in self.friends]

    @property
    def member_ids(self) -> list[int]:
        return [m.id for m in self.members]

    @property
    def identity_ids(self) -> list[int]:
        return [i.id for i in self.identities]

    def needles(self) -> set[str]:
        """The values that identify the person wherever they were copied (raw payloads, audit
        details, rendered messages): LINE user ids, names, emails, phones, member numbers."""
        values: set[str] = set()
        for friend in self.friends:
            values |= _present(friend.line_user_id, friend.display_name)
        for member in self.members:
            values |= _present(member.member_number, member.name, member.email)
            values |= phone_forms(member.phone)
        for identity in self.identities:
            values |= _present(
                identity.line_user_id, identity.name, identity.email, identity.member_number
            )
            values |= phone_forms(identity.phone)
        # A name of one letter would match everybody's payload.
        return {v for v in values if len(v) >= 2}


def _present(*values: str | None) -> set[str]:
    return {v.strip() for v in values if v and v.strip()}


def phone_forms(phone: str | None) -> set[str]:
    """A phone as stored (E.164) and as people write it: +819012345678, 09012345678, 090-…"""
    if not phone:
        return set()
    digits = re.sub(r"\D", "", phone)
    forms = {phone, digits}
    if phone.startswith("+81") and len(digits) > 2:
        national = "0" + digits[2:]
        forms.add(national)
        if len(national) == 11:
            forms.add(f"{national[:3]}-{national[3:7]}-{national[7:]}")
    return forms


def of_friend(session: Session, *, shop_id: int, friend_id: int) -> Person:
    """The person behind a friend: the members ever linked to it and their other friends."""
    friend = session.get(Friend, friend_id)
    if friend is None or friend.shop_id != shop_id:
        raise PersonNotFound(f"no friend {friend_id} in this shop")
    member_ids = _linked(session, MemberLink.member_id, MemberLink.friend_id, [friend.id])
    return _complete(session, shop_id, [friend.id], member_ids)


def of_member(session: Session, *, shop_id: int, member_id: int) -> Person:
    """The person behind a member: the friends ever linked to it and their other members."""
    member = session.get(Member, member_id)
    if member is None or member.shop_id != shop_id:
        raise PersonNotFound(f"no member {member_id} in this shop")
    friend_ids = _linked(session, MemberLink.friend_id, MemberLink.member_id, [member.id])
    return _complete(session, shop_id, friend_ids, [member.id])


def member_by_number(session: Session, *, shop_id: int, member_number: str) -> Member:
    member = session.scalar(
        select(Member).where(Member.shop_id == shop_id, Member.member_number == member_number)
    )
    if member is None:
        raise PersonNotFound(f"no member numbered {member_number!r} in this shop")
    return member


def of_identities(session: Session, *, shop_id: int, identities: list[ExternalIdentity]) -> Person:
    """The person behind identities another system named (a Shopify customer to redact)."""
    member_ids = sorted({i.member_id for i in identities if i.member_id is not None})
    friend_ids = _linked(session, MemberLink.friend_id, MemberLink.member_id, member_ids)
    person = _complete(session, shop_id, friend_ids, member_ids)
    known = set(person.identity_ids)
    person.identities += [i for i in identities if i.id not in known]
    return person


def _linked(session: Session, wanted: Any, given: Any, ids: Iterable[int]) -> list[int]:
    ids = list(ids)
    if not ids:
        return []
    return sorted(set(session.scalars(select(wanted).where(given.in_(ids)))))


def _complete(
    session: Session, shop_id: int, friend_ids: list[int], member_ids: list[int]
) -> Person:
    """Close over links once more (friend ↔ member), then gather the identities."""
    member_ids = sorted(
        set(member_ids)
        | set(_linked(session, MemberLink.member_id, MemberLink.friend_id, friend_ids))
    )
    friend_ids = sorted(
        set(friend_ids)
        | set(_linked(session, MemberLink.friend_id, MemberLink.member_id, member_ids))
    )
    friends = list(
        session.scalars(select(Friend).where(Friend.id.in_(friend_ids), Friend.shop_id == shop_id))
    )
    members = list(
        session.scalars(select(Member).where(Member.id.in_(member_ids), Member.shop_id == shop_id))
    )
    user_ids = [f.line_user_id for f in friends]
    email_indexes = [m.email_index for m in members if m.email_index]
    phone_indexes = [m.phone_index for m in members if m.phone_index]
    identities = list(
        session.scalars(
            select(ExternalIdentity)
            .where(
                ExternalIdentity.shop_id == shop_id,
                or_(
                    ExternalIdentity.member_id.in_(member_ids),
                    ExternalIdentity.line_user_id.in_(user_ids),
                    ExternalIdentity.email_index.in_(email_indexes),
                    ExternalIdentity.phone_index.in_(phone_indexes),
                ),
            )
            .order_by(ExternalIdentity.id)
        )
    )
    return Person(shop_id=shop_id, friends=friends, members=members, identities=identities)


def confirmation_words(session: Session, friend: Friend) -> list[str]:
    """What staff may type to confirm they mean this friend: the linked member's number or the
    display name; the friend's id when the hub knows neither."""
    number = session.scalar(
        select(Member.member_number)
        .join(MemberLink, MemberLink.member_id == Member.id)
        .where(MemberLink.friend_id == friend.id, MemberLink.unlinked_at.is_(None))
    )
    words = [w.strip() for w in (number, friend.display_name) if w and w.strip()]
    return words or [str(friend.id)]
