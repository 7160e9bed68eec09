"""Custom fields (友だち情報欄): the shop's field definitions, and each friend's values."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel

from api.admin.auth import Actor
from api.admin.schemas import ErrorBody
from api.deps import CurrentShop, DbSession
from core.ids import RowId
from crm import fields
from crm.field_schemas import FieldDefinitionIn, FieldDefinitionOut, FieldValueIn, FriendFieldOut
from idlink.queries import find_friend

router = APIRouter(tags=["fields"])

NO_FIELD: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorBody, "description": "No such field (or friend) in this shop"}
}


class FieldList(BaseModel):
    items: list[FieldDefinitionOut]


class FieldDeleted(BaseModel):
    key: str
    values: int


@router.get("/fields", summary="List custom fields")
def list_fields(session: DbSession, shop: CurrentShop) -> FieldList:
    """The shop's custom fields in the order the chart shows them."""
    return FieldList(items=[fields.out(d) for d in fields.definitions(session, shop.id)])


@router.put(
    "/fields/{key}",
    summary="Create or change a custom field",
    responses={
        409: {"model": ErrorBody, "description": "`FieldInUse`: values would no longer fit"},
        422: {"model": ErrorBody, "description": "The key in the path and the body differ"},
    },
)
def put_field(
    key: str, body: FieldDefinitionIn, session: DbSession, shop: CurrentShop, actor: Actor
) -> FieldDefinitionOut:
    """Define the field ``key`` (type, label, choices, position); audited with the token."""
    if body.key != key:
        raise fields.InvalidFieldValue(f"the body's key {body.key!r} is not the path's {key!r}")
    return fields.out(fields.define(session, shop_id=shop.id, spec=body, actor=actor))


@router.delete("/fields/{key}", summary="Delete a custom field", responses=NO_FIELD)
def delete_field(key: str, session: DbSession, shop: CurrentShop, actor: Actor) -> FieldDeleted:
    """Delete the field and every friend's value of it; says how many values went."""
    removed = fields.delete_definition(session, shop_id=shop.id, key=key, actor=actor)
    return FieldDeleted(key=key, values=removed)


@router.get("/friends/{friend_id}/fields", summary="Get a friend's fields", responses=NO_FIELD)
def friend_fields(friend_id: RowId, session: DbSession, shop: CurrentShop) -> list[FriendFieldOut]:
    """Every field of the shop with the friend's value (null when unset)."""
    friend = find_friend(session, shop.id, friend_id)
    return [found.out() for found in fields.fields_of(session, shop.id, friend.id)]


@router.put(
    "/friends/{friend_id}/fields/{key}",
    summary="Set or clear a friend's field",
    responses={
        **NO_FIELD,
        400: {"model": ErrorBody, "description": "`InvalidFieldValue`: not of the field's type"},
    },
)
def set_friend_field(
    friend_id: RowId,
    key: str,
    body: FieldValueIn,
    session: DbSession,
    shop: CurrentShop,
    actor: Actor,
) -> FriendFieldOut:
    """Give the friend's field a value checked against its type (`null` clears it); audited."""
    friend = find_friend(session, shop.id, friend_id)
    value = fields.set_value(session, friend=friend, key=key, value=body.value, actor=actor)
    return fields.FriendField(fields.get(session, shop.id, key), value).out()


@router.delete(
    "/friends/{friend_id}/fields/{key}", summary="Clear a friend's field", responses=NO_FIELD
)
def clear_friend_field(
    friend_id: RowId, key: str, session: DbSession, shop: CurrentShop, actor: Actor
) -> FriendFieldOut:
    """Clear the friend's value of the field; audited."""
    friend = find_friend(session, shop.id, friend_id)
    fields.set_value(session, friend=friend, key=key, value=None, actor=actor)
    return fields.FriendField(fields.get(session, shop.id, key), None).out()
