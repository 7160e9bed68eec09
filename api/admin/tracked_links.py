"""Standalone tracked links: a named address placed in any message (``{{ tracked:NAME }}``),
each friend given their own code; clicks counted per friend, an optional tag on the first."""

from __future__ import annotations

from fastapi import APIRouter

from api.admin.auth import Actor
from api.admin.pagination import DEFAULT_LIMIT, Cursor, Limit
from api.admin.schemas import ErrorBody, OpenApiResponses, Page
from api.deps import AppSettings, CurrentShop, DbSession
from core.ids import RowId
from idlink.queries import find_friend
from messaging.compose import link_queries, links
from messaging.compose.link_schemas import (
    FriendClicksOut,
    PersonalUrlOut,
    StandaloneLinkList,
    StandaloneLinkOut,
    StandaloneLinkSpec,
)

router = APIRouter(tags=["tracked links"])

NOT_FOUND: OpenApiResponses = {404: {"model": ErrorBody, "description": "No such tracked link"}}
EXISTS: OpenApiResponses = {
    409: {"model": ErrorBody, "description": "The shop has a tracked link by that name"}
}


@router.get("/tracked-links", summary="List standalone tracked links")
def list_links(session: DbSession, shop: CurrentShop) -> StandaloneLinkList:
    """Every standalone link by name: friends given a code, friends who clicked, clicks."""
    return StandaloneLinkList(items=link_queries.link_list(session, shop.id))


@router.post(
    "/tracked-links", summary="Create a standalone tracked link", status_code=201, responses=EXISTS
)
def create_link(
    body: StandaloneLinkSpec, session: DbSession, shop: CurrentShop, actor: Actor
) -> StandaloneLinkOut:
    """A new link; templates use it as its ``placeholder``. Audited with the token's name."""
    link = links.save_link(session, shop_id=shop.id, spec=body, actor=actor)
    return link_queries.one_link(session, link)


@router.get(
    "/tracked-links/{link_id}", summary="Get a standalone tracked link", responses=NOT_FOUND
)
def get_link(link_id: RowId, session: DbSession, shop: CurrentShop) -> StandaloneLinkOut:
    link = links.get_link(session, shop_id=shop.id, link_id=link_id)
    return link_queries.one_link(session, link)


@router.put(
    "/tracked-links/{link_id}",
    summary="Change a standalone tracked link",
    responses=NOT_FOUND | EXISTS,
)
def change_link(
    link_id: RowId, body: StandaloneLinkSpec, session: DbSession, shop: CurrentShop, actor: Actor
) -> StandaloneLinkOut:
    """New name, address or tag; codes already sent lead to the new address from now on."""
    link = links.get_link(session, shop_id=shop.id, link_id=link_id)
    links.save_link(session, shop_id=shop.id, spec=body, actor=actor, link=link)
    return link_queries.one_link(session, link)


@router.get(
    "/tracked-links/{link_id}/friends",
    summary="List who clicked a standalone tracked link",
    responses=NOT_FOUND,
)
def list_clickers(
    link_id: RowId,
    session: DbSession,
    shop: CurrentShop,
    settings: AppSettings,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> Page[FriendClicksOut]:
    """The friends who clicked, with their number of clicks and first click."""
    link = links.get_link(session, shop_id=shop.id, link_id=link_id)
    items, next_cursor = link_queries.friend_clicks(
        session, link, public_url=settings.public_url, limit=limit, cursor=cursor
    )
    return Page(items=items, next_cursor=next_cursor)


@router.post(
    "/tracked-links/{link_id}/friends/{friend_id}",
    summary="Get a friend's own address of a tracked link",
    responses={404: {"model": ErrorBody, "description": "No such tracked link or friend"}},
)
def personal_url(
    link_id: RowId,
    friend_id: RowId,
    session: DbSession,
    shop: CurrentShop,
    settings: AppSettings,
) -> PersonalUrlOut:
    """The friend's own code of the link (made on first use), for a message sent by a script."""
    link = links.get_link(session, shop_id=shop.id, link_id=link_id)
    friend = find_friend(session, shop.id, friend_id)
    url = links.personal_url(session, link=link, friend=friend, public_url=settings.public_url)
    return PersonalUrlOut(url=url)
