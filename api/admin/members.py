"""Members: list and look up (by number, email or phone), create and update."""

from __future__ import annotations

from collections.abc import Sequence

from fastapi import APIRouter, Query, status

from api.admin.auth import Actor
from api.admin.pagination import DEFAULT_LIMIT, Cursor, Limit
from api.admin.schemas import (
    ErrorBody,
    LinkedFriend,
    MemberCreate,
    MemberOut,
    MemberUpdate,
    OpenApiResponses,
    Page,
)
from api.deps import CurrentShop, DbSession
from core.ids import RowId
from core.pagination import fetch_page
from idlink import members as member_service
from idlink.members import UNSET, MemberFields
from idlink.models import Member
from idlink.queries import active_links_of_members, member_query

router = APIRouter(tags=["members"])

_NOT_FOUND: OpenApiResponses = {
    404: {"model": ErrorBody, "description": "No such member in this shop"}
}
_INVALID: OpenApiResponses = {
    422: {"model": ErrorBody, "description": "A value that cannot be stored, and why"}
}


def render_members(session: DbSession, members: Sequence[Member]) -> list[MemberOut]:
    """Members decrypted, with the friend each is linked to (one query for the links)."""
    links = {
        link.member_id: LinkedFriend(
            link_id=link.id,
            friend_id=link.friend_id,
            line_user_id=line_user_id,
            method=link.method,
            linked_at=link.linked_at,
        )
        for link, line_user_id in active_links_of_members(session, [m.id for m in members])
    }
    return [
        MemberOut(
            id=m.id,
            member_number=m.member_number,
            name=m.name,
            email=m.email,
            phone=m.phone,
            birth_date=m.birth_date_value,
            has_pin=m.pin_hash is not None,
            attributes=m.attributes or {},
            linked=m.id in links,
            link=links.get(m.id),
            created_at=m.created_at,
            updated_at=m.updated_at,
        )
        for m in members
    ]


@router.get("/members", summary="List or look up members", responses=_INVALID)
def list_members(
    session: DbSession,
    shop: CurrentShop,
    member_number: str | None = Query(None, description="Exact member number."),
    email: str | None = Query(None, description="Exact email (case-insensitive)."),
    phone: str | None = Query(None, description="Phone in any common spelling (090-…, +81…)."),
    linked: bool | None = Query(None, description="Only members linked (or not) to a friend."),
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> Page[MemberOut]:
    """The shop's members, newest first; PII is decrypted, the PIN never returned."""
    query = member_query(
        shop.id, member_number=member_number, email=email, phone=phone, linked=linked
    )
    found, next_cursor = fetch_page(session, query, Member.id, limit=limit, cursor=cursor)
    return Page(items=render_members(session, found), next_cursor=next_cursor)


@router.get("/members/{member_id}", summary="Get a member", responses=_NOT_FOUND)
def get_member(member_id: RowId, session: DbSession, shop: CurrentShop) -> MemberOut:
    """One member of the shop."""
    member = member_service.get_member(session, shop_id=shop.id, member_id=member_id)
    return render_members(session, [member])[0]


@router.post(
    "/members",
    summary="Create a member",
    status_code=status.HTTP_201_CREATED,
    responses={409: {"model": ErrorBody, "description": "Member number taken"}, **_INVALID},
)
def create_member(
    body: MemberCreate, session: DbSession, shop: CurrentShop, actor: Actor
) -> MemberOut:
    """Add a member (for shops without a connector that brings them in)."""
    fields = MemberFields(
        name=body.name,
        email=body.email,
        phone=body.phone,
        birth_date=body.birth_date,
        pin=body.pin,
        attributes=body.attributes,
    )
    member = member_service.create_member(
        session, shop_id=shop.id, member_number=body.member_number, fields=fields, actor=actor
    )
    return render_members(session, [member])[0]


@router.patch(
    "/members/{member_id}", summary="Update a member", responses={**_NOT_FOUND, **_INVALID}
)
def update_member(
    member_id: RowId, body: MemberUpdate, session: DbSession, shop: CurrentShop, actor: Actor
) -> MemberOut:
    """Change the fields given; omitted fields stay as they are, ``null`` clears one."""
    given = body.model_fields_set
    fields = MemberFields(
        name=body.name if "name" in given else UNSET,
        email=body.email if "email" in given else UNSET,
        phone=body.phone if "phone" in given else UNSET,
        birth_date=body.birth_date if "birth_date" in given else UNSET,
        pin=body.pin if "pin" in given else UNSET,
        attributes=body.attributes or {},
    )
    member = member_service.get_member(session, shop_id=shop.id, member_id=member_id)
    member_service.update_member(session, member=member, fields=fields, actor=actor)
    return render_members(session, [member])[0]
