"""Custom fields (友だち情報欄): a shop defines typed fields, staff and scripts fill them in.

A value is checked against its field's type before it is stored (a number is a number, a
choice one of the field's choices), kept in the column of its type, and every change is
audited on the friend with its author, so the chart's timeline shows it.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import and_, delete, func, insert, select
from sqlalchemy.orm import Session

from core import audit
from core.clock import utcnow
from core.errors import BadRequest, Conflict, NotFound
from crm.field_schemas import (
    FieldDefinitionIn,
    FieldDefinitionOut,
    FieldType,
    FriendFieldOut,
    Value,
)
from crm.models import FieldDefinition, FriendFieldValue
from idlink.models import Friend

TEXT_MAX = 500
# Numeric(18, 4): fourteen digits before the point.
NUMBER_LIMIT = Decimal("1e14")
YES = frozenset({"true", "yes", "1", "y", "はい"})
NO = frozenset({"false", "no", "0", "n", "いいえ"})


class FieldNotFound(NotFound):
    """No field with this key in the shop."""


class InvalidFieldValue(BadRequest):
    """The value does not fit the field's type or choices."""


class FieldInUse(Conflict):
    """The change would leave friends' values that no longer fit the field."""


def out(definition: FieldDefinition) -> FieldDefinitionOut:
    return FieldDefinitionOut(
        key=definition.key,
        label=definition.label,
        type=FieldType(definition.type),
        choices=list(definition.choices),
        position=definition.position,
    )


def definitions(session: Session, shop_id: int) -> Sequence[FieldDefinition]:
    """The shop's fields in their chart order."""
    return session.scalars(
        select(FieldDefinition)
        .where(FieldDefinition.shop_id == shop_id)
        .order_by(FieldDefinition.position, FieldDefinition.key)
    ).all()


def find(session: Session, shop_id: int, key: str) -> FieldDefinition | None:
    return session.scalar(
        select(FieldDefinition).where(
            FieldDefinition.shop_id == shop_id, FieldDefinition.key == key
        )
    )


def get(session: Session, shop_id: int, key: str) -> FieldDefinition:
    """The shop's field ``key``, or FieldNotFound (404)."""
    definition = find(session, shop_id, key)
    if definition is None:
        raise FieldNotFound(f"no field {key!r} in this shop: GET /fields lists them")
    return definition


def define(
    session: Session, *, shop_id: int, spec: FieldDefinitionIn, actor: str, ip: str | None = None
) -> FieldDefinition:
    """Create the field ``spec.key`` or change it; audited.

    A field's type cannot change once friends have values, nor can a choice in use be removed.
    """
    definition = find(session, shop_id, spec.key)
    created = definition is None
    if definition is None:
        last = session.scalar(
            select(func.max(FieldDefinition.position)).where(FieldDefinition.shop_id == shop_id)
        )
        definition = FieldDefinition(
            shop_id=shop_id,
            key=spec.key,
            type=spec.type,
            position=(last + 1) if last is not None else 0,
            created_at=utcnow(),
        )
        session.add(definition)
    else:
        _check_change(session, definition, spec)
    definition.type = spec.type
    definition.label = spec.label
    definition.choices = list(spec.choices)
    if spec.position is not None:
        definition.position = spec.position
    definition.updated_at = utcnow()
    session.flush()
    audit.record_written(
        session,
        shop_id=shop_id,
        actor=actor,
        subject_type="field",
        subject_id=definition.key,
        created=created,
        label=spec.label,
        type=str(spec.type),
        choices=list(spec.choices),
        ip=ip,
    )
    return definition


def _check_change(session: Session, definition: FieldDefinition, spec: FieldDefinitionIn) -> None:
    values = select(func.count()).where(FriendFieldValue.field_id == definition.id)
    if spec.type != definition.type and session.scalar(values):
        raise FieldInUse(
            f"field {definition.key!r} has values: its type stays {definition.type} "
            "(define a new field instead)"
        )
    removed = set(definition.choices) - set(spec.choices)
    if removed:
        in_use = session.scalars(
            select(FriendFieldValue.text)
            .where(FriendFieldValue.field_id == definition.id, FriendFieldValue.text.in_(removed))
            .distinct()
        ).all()
        if in_use:
            chosen = ", ".join(sorted(str(choice) for choice in in_use))
            raise FieldInUse(f"choices still chosen by friends cannot be removed: {chosen}")


def delete_definition(
    session: Session, *, shop_id: int, key: str, actor: str, ip: str | None = None
) -> int:
    """Delete the field and every friend's value of it; how many values went with it."""
    definition = get(session, shop_id, key)
    values = session.execute(
        delete(FriendFieldValue).where(FriendFieldValue.field_id == definition.id)
    )
    session.delete(definition)
    session.flush()
    removed = int(getattr(values, "rowcount", 0) or 0)
    audit.record(
        session,
        shop_id=shop_id,
        actor=actor,
        action="field.deleted",
        subject_type="field",
        subject_id=key,
        values=removed,
        ip=ip,
    )
    return removed


def parse(definition: FieldDefinition, raw: object) -> Value | None:
    """``raw`` (from JSON, a form or a CSV cell) as a value of the field, None for empty;
    InvalidFieldValue if it does not fit."""
    kind = FieldType(definition.type)
    if raw is None or raw == "" or raw == []:
        return None
    if kind is FieldType.CHOICES:
        items = raw if isinstance(raw, list) else str(raw).split("|")
        chosen = [str(item).strip() for item in items if str(item).strip()]
        for item in chosen:
            _check_choice(definition, item)
        return list(dict.fromkeys(chosen)) or None
    if isinstance(raw, list):
        raise _invalid(definition, raw, "one value, not a list")
    if kind is FieldType.YES_NO:
        if isinstance(raw, bool):
            return raw
        word = str(raw).strip().lower()
        if word in YES or word in NO:
            return word in YES
        raise _invalid(definition, raw, "yes or no (true/false)")
    if isinstance(raw, bool):
        raise _invalid(definition, raw, f"a {kind} value, not true/false")
    text = str(raw).strip()
    if kind is FieldType.NUMBER:
        try:
            number = Decimal(text.replace(",", ""))
        except InvalidOperation:
            raise _invalid(definition, raw, "a number") from None
        if not number.is_finite() or abs(number) >= NUMBER_LIMIT:
            raise _invalid(definition, raw, "a finite number below 10^14")
        return _plain(number.quantize(Decimal("0.0001")))
    if kind is FieldType.DATE:
        try:
            return date.fromisoformat(text)
        except ValueError:
            raise _invalid(definition, raw, "a date as YYYY-MM-DD") from None
    if kind is FieldType.CHOICE:
        _check_choice(definition, text)
        return text
    if len(text) > TEXT_MAX:
        raise _invalid(definition, raw, f"at most {TEXT_MAX} characters")
    return text or None


def _plain(number: Decimal) -> Decimal:
    """``5000.0000`` as ``5000`` and ``1.5000`` as ``1.5`` (never ``5E+3``)."""
    return number.quantize(Decimal(1)) if number == number.to_integral() else number.normalize()


def _check_choice(definition: FieldDefinition, choice: str) -> None:
    if choice not in definition.choices:
        raise _invalid(definition, choice, "one of: " + ", ".join(definition.choices))


def _invalid(definition: FieldDefinition, raw: object, wanted: str) -> InvalidFieldValue:
    shown = str(raw)
    shown = shown if len(shown) <= 40 else shown[:40] + "…"
    return InvalidFieldValue(f"field {definition.key!r} takes {wanted}; got {shown!r}")


def value_column(definition: FieldDefinition) -> Any:
    """The column of ``friend_field_values`` that holds this field's values."""
    return {
        FieldType.NUMBER: FriendFieldValue.number,
        FieldType.DATE: FriendFieldValue.day,
        FieldType.YES_NO: FriendFieldValue.flag,
    }.get(FieldType(definition.type), FriendFieldValue.text)


def _rows(definition: FieldDefinition, value: Value) -> list[dict[str, Any]]:
    if isinstance(value, list):
        return [{"text": choice} for choice in value]
    return [{value_column(definition).key: value}]


def value_of(definition: FieldDefinition, rows: Iterable[FriendFieldValue]) -> Value | None:
    """The field's value from the friend's stored rows of it (None when unset)."""
    found = list(rows)
    if not found:
        return None
    kind = FieldType(definition.type)
    if kind is FieldType.CHOICES:
        order = {choice: i for i, choice in enumerate(definition.choices)}
        return sorted((r.text for r in found if r.text), key=lambda c: order.get(c, len(order)))
    row = found[0]
    if kind is FieldType.NUMBER:
        return _plain(row.number) if row.number is not None else None
    if kind is FieldType.DATE:
        return row.day
    if kind is FieldType.YES_NO:
        return row.flag
    return row.text


def shown(value: Value | None, *, yes: str = "yes", no: str = "no") -> str:
    """The value as one line of text (templates, the chart, CSV)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return yes if value else no
    if isinstance(value, list):
        return ", ".join(value)
    if isinstance(value, Decimal):
        return f"{value:f}"
    return str(value)


def set_value(
    session: Session,
    *,
    friend: Friend,
    key: str,
    value: object,
    actor: str,
    ip: str | None = None,
) -> Value | None:
    """Give the friend's field ``key`` the value ``value`` (None clears it); audited when it
    changes. Returns the value as stored."""
    definition = get(session, friend.shop_id, key)
    wanted = parse(definition, value)
    existing = session.scalars(
        select(FriendFieldValue).where(
            FriendFieldValue.friend_id == friend.id, FriendFieldValue.field_id == definition.id
        )
    ).all()
    before = value_of(definition, existing)
    if wanted == before:
        return before
    for row in existing:
        session.delete(row)
    now = utcnow()
    if wanted is not None:
        for columns in _rows(definition, wanted):
            session.add(
                FriendFieldValue(
                    shop_id=friend.shop_id,
                    friend_id=friend.id,
                    field_id=definition.id,
                    set_by=actor,
                    set_at=now,
                    **columns,
                )
            )
    session.flush()
    audit.record(
        session,
        shop_id=friend.shop_id,
        actor=actor,
        action="friend.field_set" if wanted is not None else "friend.field_cleared",
        subject_type="friend",
        subject_id=friend.id,
        now=now,
        field=key,
        label=definition.label,
        value=shown(wanted) or None,
        before=shown(before) or None,
        ip=ip,
    )
    return wanted


def set_many(
    session: Session,
    *,
    definition: FieldDefinition,
    friend_ids: Collection[int],
    value: Value | None,
    actor: str,
    now: datetime,
) -> int:
    """Give every friend of ``friend_ids`` the (parsed) ``value`` of the field, None clearing
    it, in one DELETE and one INSERT (a bulk action is audited once by its caller); how many
    friends had another value before."""
    table = FriendFieldValue.__table__
    mine = and_(table.c.field_id == definition.id, table.c.friend_id.in_(friend_ids))
    before: dict[int, list[FriendFieldValue]] = {}
    for row in session.scalars(
        select(FriendFieldValue).where(
            FriendFieldValue.field_id == definition.id,
            FriendFieldValue.friend_id.in_(friend_ids),
        )
    ):
        before.setdefault(row.friend_id, []).append(row)
    changed = [
        friend_id
        for friend_id in friend_ids
        if value_of(definition, before.get(friend_id, [])) != value
    ]
    for rows in before.values():  # read to compare; the statements below replace them
        for row in rows:
            session.expunge(row)
    if not changed:
        return 0
    session.execute(delete(table).where(mine, table.c.friend_id.in_(changed)))
    if value is not None:
        session.execute(
            insert(table),
            [
                {
                    "shop_id": definition.shop_id,
                    "friend_id": friend_id,
                    "field_id": definition.id,
                    "set_by": actor,
                    "set_at": now,
                    **columns,
                }
                for friend_id in changed
                for columns in _rows(definition, value)
            ],
        )
    return len(changed)


@dataclass(frozen=True, slots=True)
class FriendField:
    """One field on a friend's chart: its definition and the friend's value (or None)."""

    definition: FieldDefinition
    value: Value | None

    def out(self) -> FriendFieldOut:
        return FriendFieldOut(
            key=self.definition.key,
            label=self.definition.label,
            type=FieldType(self.definition.type),
            choices=list(self.definition.choices),
            value=self.value,
            shown=shown(self.value),
        )


def fields_of(session: Session, shop_id: int, friend_id: int) -> list[FriendField]:
    """Every field of the shop with the friend's value, in chart order."""
    found = values_for(session, shop_id, [friend_id]).get(friend_id, {})
    return [FriendField(d, found.get(d.key)) for d in definitions(session, shop_id)]


def values_for(
    session: Session, shop_id: int, friend_ids: Collection[int]
) -> dict[int, dict[str, Value]]:
    """The set values of these friends, by friend id and field key (one query)."""
    rows = session.execute(
        select(FriendFieldValue, FieldDefinition)
        .join(FieldDefinition, FieldDefinition.id == FriendFieldValue.field_id)
        .where(
            FriendFieldValue.shop_id == shop_id,
            FriendFieldValue.friend_id.in_(list(friend_ids)),
        )
        .order_by(FriendFieldValue.friend_id, FriendFieldValue.field_id, FriendFieldValue.id)
    ).all()
    grouped: dict[tuple[int, int], tuple[FieldDefinition, list[FriendFieldValue]]] = {}
    for row, definition in rows:
        grouped.setdefault((row.friend_id, definition.id), (definition, []))[1].append(row)
    result: dict[int, dict[str, Value]] = {}
    for (friend_id, _field_id), (definition, stored) in grouped.items():
        value = value_of(definition, stored)
        if value is not None:
            result.setdefault(friend_id, {})[definition.key] = value
    return result
