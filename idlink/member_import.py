"""Members imported from a shop's file: one row upserted on its member number (the CLI's
``tsunagu member import`` reads the file, and audits the run once)."""

from __future__ import annotations

import enum
from collections.abc import Mapping, MutableMapping
from datetime import datetime

from sqlalchemy.orm import Session

from core.clock import utcnow
from idlink.members import (
    UNSET,
    MemberFields,
    apply_columns,
    find_by_number,
    normalised_columns,
    normalize_member_number,
)
from idlink.models import Member


class ImportOutcome(enum.StrEnum):
    CREATED = "created"
    UPDATED = "updated"
    UNCHANGED = "unchanged"
    SKIPPED = "skipped"


def import_member(
    session: Session,
    *,
    shop_id: int,
    member_number: str,
    fields: MemberFields,
    update: bool,
    known: MutableMapping[str, Member] | None = None,
    now: datetime | None = None,
) -> ImportOutcome:
    """Upsert one imported member on its number; without ``update`` existing members are kept.

    An existing member whose row differs is ``SKIPPED`` (nothing written) unless ``update``.
    ``known`` (from :func:`members_by_number`) saves the look-up, and learns created members.
    Imports are audited once per run by the caller, not per row.
    """
    now = now or utcnow()
    number = normalize_member_number(member_number)
    columns = normalised_columns(fields, now.date())
    if known is None:
        member = find_by_number(session, shop_id=shop_id, member_number=number)
    else:
        member = known.get(number)
    if member is None:
        member = Member(
            shop_id=shop_id, member_number=number, attributes={}, created_at=now, updated_at=now
        )
        session.add(member)
        apply_columns(member, columns, fields.attributes)
        session.flush()
        if known is not None:
            known[number] = member
        return ImportOutcome.CREATED
    if not update:
        with session.no_autoflush:
            probe = Member(
                member_number=number,
                name=member.name,
                email=member.email,
                phone=member.phone,
                birth_date=member.birth_date,
                pin_hash=member.pin_hash,
                attributes=dict(member.attributes or {}),
            )
            differs = bool(apply_columns(probe, columns, fields.attributes))
        return ImportOutcome.SKIPPED if differs else ImportOutcome.UNCHANGED
    if apply_columns(member, columns, fields.attributes):
        member.updated_at = now
        session.flush()
        return ImportOutcome.UPDATED
    return ImportOutcome.UNCHANGED


MEMBER_COLUMNS = ("member_number", "name", "email", "phone", "birth_date", "pin")


def fields_from_row(row: Mapping[str, str]) -> tuple[str, MemberFields]:
    """Read one import row (header → cell): the member number, and its fields.

    A column the file does not have is left as it is; an empty cell clears the field, except
    ``pin``, which cannot be exported and so is only ever set. Other columns go to
    ``attributes`` (an empty cell removes the key).
    """
    pin = row.get("pin")
    fields = MemberFields(
        name=row.get("name", UNSET),
        email=row.get("email", UNSET),
        phone=row.get("phone", UNSET),
        birth_date=row.get("birth_date", UNSET),
        pin=pin if pin and pin.strip() else UNSET,
        attributes={k: v.strip() for k, v in row.items() if k not in MEMBER_COLUMNS},
    )
    return row.get("member_number", ""), fields
