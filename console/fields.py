"""Custom fields in the console: filled in on the chart (operators and above), defined on
their own page (admins and owners). Same services as the admin API."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy.orm import Session

from console.auth import CurrentStaff, DbSession, FormStaff, Staff, client_ip
from console.charts import friend_for
from console.context import PREFIX, is_htmx, render
from core.errors import BadRequest
from core.ids import RowId
from crm import fields
from crm.field_schemas import FieldDefinitionIn, FieldType
from crm.fields import InvalidFieldValue
from staff.permissions import Action

router = APIRouter()


class InvalidFieldForm(BadRequest):
    """The field definition form does not hold a valid field."""


def fields_partial(
    request: Request, staff: Staff, session: Session, friend_id: int, **extra: object
) -> Response:
    """The chart's fields section, as htmx swaps it."""
    return render(
        request,
        "friends/_fields.html",
        {
            "friend_id": friend_id,
            "fields": [f.out() for f in fields.fields_of(session, staff.shop.id, friend_id)],
            "can_edit_fields": staff.can(Action.WRITE_FIELDS),
            **extra,
        },
    )


@router.post("/friends/{friend_id}/fields/{key}")
async def set_field(
    request: Request, friend_id: RowId, key: str, staff: FormStaff, session: DbSession
) -> Response:
    """Set (or, empty, clear) one field of the friend; audited with the staff member."""
    friend = friend_for(session, staff, friend_id, Action.WRITE_FIELDS)
    definition = fields.get(session, staff.shop.id, key)
    sent = [v for v in (await request.form()).getlist("value") if isinstance(v, str)]
    value: object = sent if definition.type == FieldType.CHOICES else (sent[0] if sent else None)
    try:
        with session.begin_nested():
            fields.set_value(
                session,
                friend=friend,
                key=key,
                value=value,
                actor=staff.actor,
                ip=client_ip(request),
            )
    except InvalidFieldValue as exc:
        if not is_htmx(request):
            raise
        return fields_partial(request, staff, session, friend.id, error_key=key, error=exc.detail)
    if is_htmx(request):
        return fields_partial(request, staff, session, friend.id, saved_key=key)
    return RedirectResponse(f"{PREFIX}/friends/{friend.id}", status_code=303)


@router.get("/fields")
def fields_page(request: Request, staff: CurrentStaff, session: DbSession) -> Response:
    """The shop's fields, and a form to add or change one (admins and owners)."""
    staff.require(Action.MANAGE_FIELDS)
    return _page(request, staff, session)


def _page(
    request: Request, staff: Staff, session: Session, *, error: str | None = None
) -> Response:
    return render(
        request,
        "fields/list.html",
        {
            "definitions": fields.definitions(session, staff.shop.id),
            "types": list(FieldType),
            "error": error,
        },
        status_code=400 if error else 200,
    )


@router.post("/fields")
def save_field(
    request: Request,
    staff: FormStaff,
    session: DbSession,
    key: Annotated[str, Form(max_length=64)],
    label: Annotated[str, Form(max_length=100)],
    type: Annotated[str, Form(max_length=16)],
    choices: Annotated[str, Form(max_length=10_000)] = "",
) -> Response:
    """Add a field, or change the one with this key (label, type, choices one per line)."""
    staff.require(Action.MANAGE_FIELDS)
    try:
        spec = FieldDefinitionIn.model_validate(
            {
                "key": key.strip(),
                "label": label.strip(),
                "type": type,
                "choices": [c.strip() for c in choices.splitlines() if c.strip()],
            }
        )
    except ValidationError as exc:
        reasons = "; ".join(str(e["msg"]).removeprefix("Value error, ") for e in exc.errors())
        return _page(request, staff, session, error=reasons)
    try:
        with session.begin_nested():
            fields.define(
                session, shop_id=staff.shop.id, spec=spec, actor=staff.actor, ip=client_ip(request)
            )
    except fields.FieldInUse as exc:
        return _page(request, staff, session, error=exc.detail)
    return RedirectResponse(f"{PREFIX}/fields", status_code=303)


@router.post("/fields/{key}/delete")
def delete_field(request: Request, key: str, staff: FormStaff, session: DbSession) -> Response:
    """Delete the field and every friend's value of it."""
    staff.require(Action.MANAGE_FIELDS)
    fields.delete_definition(
        session, shop_id=staff.shop.id, key=key, actor=staff.actor, ip=client_ip(request)
    )
    return RedirectResponse(f"{PREFIX}/fields", status_code=303)
