"""Members: the shop's customer records, created and updated by staff, the admin API and imports.

Every value is normalised before it is stored, so look-ups on strong keys work however a shop's
spreadsheet spelled them: member numbers and PINs are NFKC-folded (full-width digits become
ASCII), emails lower-cased, phones written in E.164, birth dates in ISO 8601. Email and phone
are encrypted at rest and found through their blind indexes.
"""

from __future__ import annotations

import enum
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from core import audit, crypto
from core.clock import utcnow
from core.errors import Conflict, NotFound, Unprocessable
from idlink.models import Member

MEMBER_NUMBER_MAX = 64
NAME_MAX = 200
EMAIL_MAX = 254
PIN_MIN, PIN_MAX = 4, 16
JAPAN = "81"

# Dashes and brackets people type between digit groups, including the Japanese long-vowel mark
# and minus signs that IMEs and spreadsheets produce in place of a hyphen.
_PHONE_SEPARATORS = re.compile("[\\s\\-\u2010-\u2015\u2212\u30fc\uff70().]")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_DATE = re.compile(r"^(\d{4})[-/](\d{1,2})[-/](\d{1,2})$")


class InvalidMemberData(Unprocessable):
    """A member value that cannot be stored; the detail names the field and what is wrong."""

    def __init__(self, field_name: str, reason: str) -> None:
        super().__init__(f"{field_name}: {reason}")
        self.field_name = field_name
        self.reason = reason


class MemberNumberTaken(Conflict):
    """The shop already has a member with this number: update that member instead."""


class MemberNotFound(NotFound):
    """No member with this id (or number) in the caller's shop."""


def _fold(value: str) -> str:
    return unicodedata.normalize("NFKC", value).strip()


def normalize_member_number(value: str) -> str:
    """Trim and NFKC-fold a member number (full-width digits become ASCII); empty fails."""
    number = _fold(value)
    if not number:
        raise InvalidMemberData("member_number", "is empty")
    if len(number) > MEMBER_NUMBER_MAX:
        raise InvalidMemberData("member_number", f"is longer than {MEMBER_NUMBER_MAX} characters")
    if any(c.isspace() or not c.isprintable() for c in number):
        raise InvalidMemberData("member_number", "contains spaces or control characters")
    return number


def normalize_email(value: str) -> str:
    """Trim and lower-case an email address; anything that is not ``local@domain.tld`` fails."""
    email = _fold(value).lower()
    if len(email) > EMAIL_MAX or not _EMAIL.fullmatch(email):
        raise InvalidMemberData("email", f"{value.strip()!r} is not an email address")
    return email


def normalize_phone(value: str) -> str:
    """A phone number in E.164; numbers without a country code are read as Japanese.

    ``090-1234-5678`` → ``+819012345678``, ``03 1234 5678`` → ``+81312345678``,
    ``+81 (0)90 1234 5678`` → ``+819012345678``, ``+1 415 555 0100`` → ``+14155550100``.
    """
    compact = _PHONE_SEPARATORS.sub("", _fold(value))
    if compact.startswith("+"):
        digits = compact[1:]
        if digits.startswith(JAPAN + "0"):
            # "+81 (0)90…": the domestic trunk 0 written after the country code.
            digits = JAPAN + digits[len(JAPAN) + 1 :]
    elif compact.startswith("0") and not compact.startswith("00"):
        digits = JAPAN + compact[1:]
    else:
        raise InvalidMemberData(
            "phone",
            f"{value.strip()!r} has neither a leading 0 nor a +country code "
            "(did a spreadsheet drop the leading 0?)",
        )
    if not digits.isascii() or not digits.isdigit():
        raise InvalidMemberData(
            "phone", f"{value.strip()!r} contains characters that are not digits"
        )
    if digits.startswith(JAPAN):
        national = len(digits) - len(JAPAN)
        if national not in (9, 10):
            raise InvalidMemberData(
                "phone", f"{value.strip()!r} is not a Japanese number (10 or 11 digits with the 0)"
            )
    elif not 8 <= len(digits) <= 15:
        raise InvalidMemberData("phone", f"{value.strip()!r} is not an international number")
    return "+" + digits


def normalize_birth_date(value: str | date, *, today: date | None = None) -> str:
    """An ISO date (``1990-04-01``); ``1990/4/1`` is accepted. Future or pre-1900 dates fail."""
    if isinstance(value, date):
        parsed = value
    else:
        match = _DATE.fullmatch(_fold(value))
        if match is None:
            raise InvalidMemberData("birth_date", f"{value.strip()!r} is not a date (YYYY-MM-DD)")
        try:
            parsed = date(*(int(part) for part in match.groups()))
        except ValueError as exc:
            raise InvalidMemberData("birth_date", f"{value.strip()!r}: {exc}") from exc
    if parsed.year < 1900 or parsed > (today or utcnow().date()):
        raise InvalidMemberData("birth_date", f"{parsed.isoformat()} is not a plausible birth date")
    return parsed.isoformat()


def normalize_pin(value: str) -> str:
    """Fold a PIN (full-width digits → ASCII); it must be 4-16 visible characters."""
    pin = _fold(value)
    if not PIN_MIN <= len(pin) <= PIN_MAX or any(c.isspace() for c in pin):
        raise InvalidMemberData("pin", f"must be {PIN_MIN}-{PIN_MAX} characters without spaces")
    return pin


def normalize_name(value: str) -> str:
    """Fold a name and collapse runs of white space (line breaks too) into one space."""
    name = " ".join(_fold(value).split())
    if len(name) > NAME_MAX:
        raise InvalidMemberData("name", f"is longer than {NAME_MAX} characters")
    if not name.isprintable():
        raise InvalidMemberData("name", "contains control characters")
    return name


class Unset(enum.Enum):
    """Marks a field the caller did not mention: an update leaves it as it is."""

    UNSET = "unset"


UNSET = Unset.UNSET


@dataclass(frozen=True, slots=True)
class MemberFields:
    """Values for a member as given (not yet normalised). ``None`` clears, ``UNSET`` keeps.

    ``attributes`` is merged into the member's attributes; a key given as ``None`` is removed.
    """

    name: str | Unset | None = UNSET
    email: str | Unset | None = UNSET
    phone: str | Unset | None = UNSET
    birth_date: str | date | Unset | None = UNSET
    pin: str | Unset | None = UNSET
    attributes: Mapping[str, Any] = field(default_factory=dict)


def _blank_to_none(value: str | date | None) -> str | date | None:
    return None if isinstance(value, str) and not value.strip() else value


def normalised_columns(fields: MemberFields, today: date) -> dict[str, Any]:
    """The columns to set, normalised: only the fields the caller mentioned."""
    columns: dict[str, Any] = {}
    if fields.name is not UNSET:
        name = _blank_to_none(fields.name)
        columns["name"] = None if name is None else normalize_name(str(name))
    if fields.email is not UNSET:
        email = _blank_to_none(fields.email)
        columns["email"] = None if email is None else normalize_email(str(email))
    if fields.phone is not UNSET:
        phone = _blank_to_none(fields.phone)
        columns["phone"] = None if phone is None else normalize_phone(str(phone))
    if fields.birth_date is not UNSET:
        birth = _blank_to_none(fields.birth_date)
        columns["birth_date"] = None if birth is None else normalize_birth_date(birth, today=today)
    if fields.pin is not UNSET:
        pin = _blank_to_none(fields.pin)
        columns["pin"] = None if pin is None else normalize_pin(str(pin))
    for key in fields.attributes:
        if not isinstance(key, str) or not key.strip():
            raise InvalidMemberData("attributes", "keys must be non-empty strings")
    return columns


def apply_columns(
    member: Member, columns: dict[str, Any], attributes: Mapping[str, Any]
) -> list[str]:
    """Set what differs; return the names of the fields that changed (never their values)."""
    changed: list[str] = []
    for name in ("name", "birth_date"):
        if name in columns and getattr(member, name) != columns[name]:
            setattr(member, name, columns[name])
            changed.append(name)
    box = crypto.box()
    if "email" in columns and member.email != columns["email"]:
        member.email = columns["email"]
        member.email_index = None if member.email is None else box.blind_index(member.email)
        changed.append("email")
    if "phone" in columns and member.phone != columns["phone"]:
        member.phone = columns["phone"]
        member.phone_index = None if member.phone is None else box.blind_index(member.phone)
        changed.append("phone")
    if "pin" in columns and _pin_differs(member.pin_hash, columns["pin"]):
        member.pin_hash = None if columns["pin"] is None else crypto.hash_secret(columns["pin"])
        changed.append("pin")
    merged = _merge_attributes(member.attributes or {}, attributes)
    if merged != (member.attributes or {}):
        member.attributes = merged
        changed.append("attributes")
    return changed


def _pin_differs(stored_hash: str | None, pin: str | None) -> bool:
    if pin is None:
        return stored_hash is not None
    return stored_hash is None or not crypto.verify_secret(pin, stored_hash)


def _merge_attributes(current: Mapping[str, Any], patch: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(current)
    for key, value in patch.items():
        if value is None or value == "":
            merged.pop(key.strip(), None)
        else:
            merged[key.strip()] = value
    return merged


def find_by_number(session: Session, *, shop_id: int, member_number: str) -> Member | None:
    """The shop's member with this number (normalised before the look-up), if any."""
    return session.scalar(
        select(Member).where(
            Member.shop_id == shop_id,
            Member.member_number == normalize_member_number(member_number),
        )
    )


def members_by_number(
    session: Session, *, shop_id: int, numbers: Iterable[str]
) -> dict[str, Member]:
    """The shop's members with these numbers in one query, keyed by normalised number.

    Numbers that cannot be normalised are left out (importing them fails on its own).
    """
    wanted: set[str] = set()
    for number in numbers:
        try:
            wanted.add(normalize_member_number(number))
        except InvalidMemberData:
            continue
    if not wanted:
        return {}
    query = select(Member).where(Member.shop_id == shop_id, Member.member_number.in_(wanted))
    return {member.member_number: member for member in session.scalars(query)}


def get_member(session: Session, *, shop_id: int, member_id: int) -> Member:
    """The shop's member with this id; another shop's member is as absent as a missing one."""
    member = session.get(Member, member_id)
    if member is None or member.shop_id != shop_id:
        raise MemberNotFound(f"no member {member_id} in this shop: GET /members lists them")
    return member


def create_member(
    session: Session,
    *,
    shop_id: int,
    member_number: str,
    fields: MemberFields,
    actor: str,
    now: datetime | None = None,
) -> Member:
    """Create a member; the number must be new in the shop."""
    now = now or utcnow()
    number = normalize_member_number(member_number)
    columns = normalised_columns(fields, now.date())
    if find_by_number(session, shop_id=shop_id, member_number=number) is not None:
        raise MemberNumberTaken(
            f"member number {number!r} already exists: update it with PATCH /members/{{id}}"
        )
    member = Member(
        shop_id=shop_id, member_number=number, attributes={}, created_at=now, updated_at=now
    )
    session.add(member)
    changed = apply_columns(member, columns, fields.attributes)
    session.flush()
    audit.record(
        session,
        shop_id=shop_id,
        actor=actor,
        action="member.created",
        subject_type="member",
        subject_id=member.id,
        now=now,
        member_number=number,
        fields=changed,
    )
    return member


def update_member(
    session: Session,
    *,
    member: Member,
    fields: MemberFields,
    actor: str,
    now: datetime | None = None,
) -> list[str]:
    """Apply the mentioned fields; return which changed (an unchanged member is not touched)."""
    now = now or utcnow()
    changed = apply_columns(member, normalised_columns(fields, now.date()), fields.attributes)
    if changed:
        member.updated_at = now
        audit.record(
            session,
            shop_id=member.shop_id,
            actor=actor,
            action="member.updated",
            subject_type="member",
            subject_id=member.id,
            now=now,
            member_number=member.member_number,
            fields=changed,
        )
    return changed
