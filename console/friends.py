"""The friends list and the customer chart (顧客カルテ), with tagging on the chart."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session

from console import chart_actions
from console.auth import CurrentStaff, DbSession, FormStaff, Staff, client_ip
from console.charts import chart_part, friend_for
from console.context import PREFIX, render
from core.ids import RowId
from crm import notes, owners
from crm.notes import NoteIn
from crm.owners import OwnerIn
from growth import queries as route_queries
from growth.forms import queries as form_queries
from idlink import tag_queries, tagging
from idlink.models import Friend
from idlink.queries import find_friend, render_friends
from idlink.schemas import TagIn
from messaging import chart
from staff.permissions import Action

router = APIRouter()

PAGE_SIZE = 50
TIMELINE_SIZE = 30


@router.get("/")
def home() -> Response:
    return RedirectResponse(f"{PREFIX}/friends", status_code=303)


@router.get("/friends/{friend_id}")
def chart_page(
    request: Request,
    friend_id: RowId,
    staff: CurrentStaff,
    session: DbSession,
    cursor: str | None = None,
) -> Response:
    """Everything the hub knows of one friend, and what happened to them, newest first."""
    staff.require(Action.READ_FRIENDS)
    found = chart.friend_chart(
        session,
        staff.shop.id,
        friend_id,
        include_personal=staff.can(Action.READ_MEMBER_PERSONAL),
        channel_scope=staff.channel_scope,
        limit=TIMELINE_SIZE,
        cursor=cursor,
    )
    friend = find_friend(session, staff.shop.id, friend_id, channel_scope=staff.channel_scope)
    return render(
        request,
        "friends/chart.html",
        {
            **chart_actions.action_values(request, staff, session, friend),
            "chart": found,
            "notes": found.notes,
            "can_tag": staff.can(Action.TAG_FRIENDS),
            "can_note": staff.can(Action.WRITE_NOTES),
            "can_assign": staff.can(Action.ASSIGN_OWNER),
            "can_erase": staff.can(Action.EXPORT_DATA) and staff.can(Action.ERASE_DATA),
            "owner": found.owner,
            "friend_id": friend_id,
            "fields": found.fields,
            "can_edit_fields": staff.can(Action.WRITE_FIELDS),
            "shop_staff": owners.shop_staff(session, staff.shop.id),
            "actor": staff.actor,
            "tag_colours": tag_queries.colours(session, staff.shop.id),
            "link_sent": request.query_params.get("link_sent") == "1",
            "route_touches": route_queries.touches_of(session, friend.id),
            "form_answers": form_queries.of_friend(session, friend.id),
        },
    )


def _tags_response(request: Request, staff: Staff, friend: Friend, session: Session) -> Response:
    return chart_part(
        request,
        friend,
        "friends/_tags.html",
        lambda: {
            "friend": render_friends(session, staff.shop.id, [friend])[0],
            "can_tag": True,
            "tag_colours": tag_queries.colours(session, staff.shop.id),
            "link_sent": request.query_params.get("link_sent") == "1",
        },
    )


@router.post("/friends/{friend_id}/tags")
def add_tag(
    request: Request,
    friend_id: RowId,
    staff: FormStaff,
    session: DbSession,
    body: Annotated[TagIn, Form()],
) -> Response:
    """Put a tag on the friend (operator and above); audited with the staff member."""
    friend = friend_for(session, staff, friend_id, Action.TAG_FRIENDS)
    tagging.add_by_hand(
        session, friend=friend, name=body.name, actor=staff.actor, ip=client_ip(request)
    )
    return _tags_response(request, staff, friend, session)


@router.post("/friends/{friend_id}/tags/remove")
def remove_tag(
    request: Request,
    friend_id: RowId,
    staff: FormStaff,
    session: DbSession,
    name: Annotated[str, Form(max_length=100)],
) -> Response:
    """Take a tag off the friend (operator and above); audited with the staff member."""
    friend = friend_for(session, staff, friend_id, Action.TAG_FRIENDS)
    tagging.remove_by_hand(
        session, friend=friend, name=name, actor=staff.actor, ip=client_ip(request)
    )
    return _tags_response(request, staff, friend, session)


def _notes_response(request: Request, staff: Staff, friend: Friend, session: Session) -> Response:
    return chart_part(
        request,
        friend,
        "friends/_notes.html",
        lambda: {
            "friend": friend,
            "notes": notes.notes_of(session, friend),
            "can_note": True,
            "actor": staff.actor,
        },
    )


@router.post("/friends/{friend_id}/notes")
def add_note(
    request: Request,
    friend_id: RowId,
    staff: FormStaff,
    session: DbSession,
    body: Annotated[NoteIn, Form()],
) -> Response:
    """Add a note to the friend (operator and above), authored by the staff member."""
    friend = friend_for(session, staff, friend_id, Action.WRITE_NOTES)
    notes.add_note(session, friend=friend, body=body, author=staff.actor, ip=client_ip(request))
    return _notes_response(request, staff, friend, session)


@router.post("/friends/{friend_id}/notes/{note_id}/edit")
def edit_note(
    request: Request,
    friend_id: RowId,
    note_id: RowId,
    staff: FormStaff,
    session: DbSession,
    body: Annotated[NoteIn, Form()],
) -> Response:
    """Change the text of one's own note; the audit log keeps the earlier text."""
    friend = friend_for(session, staff, friend_id, Action.WRITE_NOTES)
    note = notes.get_note(session, friend, note_id)
    notes.edit_note(session, note=note, body=body, actor=staff.actor, ip=client_ip(request))
    return _notes_response(request, staff, friend, session)


@router.post("/friends/{friend_id}/notes/{note_id}/pin")
def pin_note(
    request: Request,
    friend_id: RowId,
    note_id: RowId,
    staff: FormStaff,
    session: DbSession,
    pinned: Annotated[bool, Form()],
) -> Response:
    """Pin a note to the top of the chart, or unpin it."""
    friend = friend_for(session, staff, friend_id, Action.WRITE_NOTES)
    note = notes.get_note(session, friend, note_id)
    notes.set_pinned(session, note=note, pinned=pinned, actor=staff.actor, ip=client_ip(request))
    return _notes_response(request, staff, friend, session)


@router.post("/friends/{friend_id}/owner")
def set_owner(
    request: Request,
    friend_id: RowId,
    staff: FormStaff,
    session: DbSession,
    body: Annotated[OwnerIn, Form()],
) -> Response:
    """Make a staff member of the shop the friend's owner (担当者), or nobody."""
    friend = friend_for(session, staff, friend_id, Action.ASSIGN_OWNER)
    owner = owners.set_owner(
        session, friend=friend, email=body.email, actor=staff.actor, ip=client_ip(request)
    )
    return chart_part(
        request,
        friend,
        "friends/_owner.html",
        lambda: {
            "friend": friend,
            "owner": owner,
            "shop_staff": owners.shop_staff(session, staff.shop.id),
            "can_assign": True,
        },
    )
