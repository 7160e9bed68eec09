"""Segment rules on custom fields: the operators each field type takes, compiled to SQL.

A rule names a field by key; the shop's definition says its type, so ``5`` is compared as a
number, ``"2026-04-01"`` as a date and ``"VIP"`` as one of the field's choices. A rule that
does not fit its field is refused when the segment is saved, with what would fit.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import ColumnElement, not_, select, true

from core.errors import BadRequest
from crm import fields
from crm.field_schemas import FieldType
from crm.fields import InvalidFieldValue
from crm.models import FieldDefinition, FriendFieldValue
from idlink.models import Friend
from messaging.segments.schemas import FieldRule

OPERATORS: dict[FieldType, tuple[str, ...]] = {
    FieldType.TEXT: ("eq", "ne", "in", "contains", "exists"),
    FieldType.NUMBER: ("eq", "ne", "in", "gte", "lte", "exists"),
    FieldType.DATE: ("eq", "ne", "in", "gte", "lte", "exists"),
    FieldType.CHOICE: ("eq", "ne", "in", "exists"),
    FieldType.CHOICES: ("eq", "ne", "in", "exists"),
    FieldType.YES_NO: ("eq", "ne", "exists"),
}


class InvalidFieldRule(BadRequest):
    """A segment's field rule names no field of the shop, or does not fit the field's type."""


def condition(rule: FieldRule, definitions: Mapping[str, FieldDefinition]) -> ColumnElement[bool]:
    """The rule as a condition on ``Friend``: its id among those whose value matches."""
    definition = definitions.get(rule.field)
    if definition is None:
        known = ", ".join(sorted(definitions)) or "none yet"
        raise InvalidFieldRule(f"no custom field {rule.field!r} in this shop (fields: {known})")
    kind = FieldType(definition.type)
    if rule.op not in OPERATORS[kind]:
        allowed = ", ".join(OPERATORS[kind])
        raise InvalidFieldRule(f"a {kind} field takes the operators {allowed}, not {rule.op!r}")
    if rule.op == "exists":
        return _has(definition, true())
    if rule.op == "ne":
        return not_(_has(definition, _matches(definition, "eq", rule.value)))
    return _has(definition, _matches(definition, rule.op, rule.value))


def _has(definition: FieldDefinition, matches: ColumnElement[bool]) -> ColumnElement[bool]:
    # An uncorrelated IN, computed once from the (field, value) index: a correlated EXISTS let
    # SQLite scan that index's range again for every friend.
    return Friend.id.in_(
        select(FriendFieldValue.friend_id).where(
            FriendFieldValue.field_id == definition.id, matches
        )
    )


def _matches(definition: FieldDefinition, op: str, value: Any) -> ColumnElement[bool]:
    column = fields.value_column(definition)
    if op == "contains":
        return column.contains(str(value), autoescape=True)
    if op == "in":
        return column.in_([_one(definition, item) for item in value])
    operand = _one(definition, value)
    if op == "gte":
        return column >= operand
    if op == "lte":
        return column <= operand
    return column == operand


def _one(definition: FieldDefinition, value: Any) -> Any:
    """One value of the rule, as the field stores it."""
    many = FieldType(definition.type) is FieldType.CHOICES
    try:
        parsed = fields.parse(definition, [value] if many else value)
    except InvalidFieldValue as exc:
        raise InvalidFieldRule(exc.detail) from exc
    if parsed is None:
        raise InvalidFieldRule(f"field {definition.key!r}: compare with a value, or use `exists`")
    return parsed[0] if isinstance(parsed, list) else parsed
