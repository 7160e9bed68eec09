"""Links between friends and members, current and past (staff link/unlink is in linking.py)."""

from __future__ import annotations

from fastapi import APIRouter, Query

from api.admin.pagination import DEFAULT_LIMIT, Cursor, Limit
from api.admin.schemas import LinkOut, Page
from api.deps import CurrentShop, DbSession
from core.ids import RowId
from core.pagination import fetch_page
from idlink.models import LinkMethod, MemberLink
from idlink.queries import link_ends, link_query

router = APIRouter(tags=["links"])


@router.get("/links", summary="List member links")
def list_links(
    session: DbSession,
    shop: CurrentShop,
    active: bool | None = Query(None, description="Only current (true) or ended (false) links."),
    member_id: RowId | None = Query(None, description="Only this member's links."),
    friend_id: RowId | None = Query(None, description="Only this friend's links."),
    method: LinkMethod | None = Query(None, description="How the link was made."),
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> Page[LinkOut]:
    """The shop's friend ↔ member links, newest first, including ended ones (history)."""
    query = link_query(
        shop.id, active=active, member_id=member_id, friend_id=friend_id, method=method
    )
    links, next_cursor = fetch_page(session, query, MemberLink.id, limit=limit, cursor=cursor)
    names = link_ends(session, [link.id for link in links])
    items = [
        LinkOut.of(
            link,
            line_user_id=names[link.id][0],
            member_number=names[link.id][1],
            provider_id=link.provider_id,
        )
        for link in links
    ]
    return Page(items=items, next_cursor=next_cursor)
