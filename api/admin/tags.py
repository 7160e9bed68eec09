"""The shop's tags: list them by folder with their friends, create, rename, recolour, move to a
folder, delete, and tag or untag many friends at once. The values ``/friends?tag=`` takes."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from api.admin.auth import Actor
from api.admin.schemas import ErrorBody
from api.deps import CurrentShop, DbSession
from core.ids import RowId
from idlink import tag_queries, tagging
from idlink.tag_schemas import (
    BulkTagIn,
    BulkTagOut,
    TagCreate,
    TagDeleted,
    TagList,
    TagOut,
    TagUpdate,
)

router = APIRouter(tags=["tags"])

NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorBody, "description": "No such tag in this shop"}
}
EXISTS: dict[int | str, dict[str, Any]] = {
    409: {"model": ErrorBody, "description": "The shop has a tag by that name"}
}


def _out(session: DbSession, shop_id: int, tag_id: int) -> TagOut:
    return next(t for t in tag_queries.tag_list(session, shop_id) if t.id == tag_id)


@router.get("/tags", summary="List tags")
def list_tags(session: DbSession, shop: CurrentShop) -> TagList:
    """Every tag of the shop with its colour, folder and number of friends; folderless first,
    then by folder and name."""
    return TagList(items=tag_queries.tag_list(session, shop.id))


@router.post("/tags", summary="Create a tag", status_code=201, responses=EXISTS)
def create_tag(body: TagCreate, session: DbSession, shop: CurrentShop, actor: Actor) -> TagOut:
    """A new tag (no friend carries it yet); audited with the token's name."""
    tag = tagging.create_tag(session, shop_id=shop.id, body=body, actor=actor)
    return _out(session, shop.id, tag.id)


@router.get("/tags/{tag_id}", summary="Get a tag", responses=NOT_FOUND)
def get_tag(tag_id: RowId, session: DbSession, shop: CurrentShop) -> TagOut:
    """One tag, with how many friends carry it (what deleting it would untag)."""
    tag = tagging.get_tag(session, shop_id=shop.id, tag_id=tag_id)
    return _out(session, shop.id, tag.id)


@router.patch("/tags/{tag_id}", summary="Change a tag", responses=NOT_FOUND | EXISTS)
def update_tag(
    tag_id: RowId, body: TagUpdate, session: DbSession, shop: CurrentShop, actor: Actor
) -> TagOut:
    """Rename, recolour or move the tag (`folder: null` takes it out of its folder); only the
    fields given change. A new name reaches everything that names the tag: segments,
    sequences, auto-reply rules, follow routes, click tags and tracked links."""
    tag = tagging.get_tag(session, shop_id=shop.id, tag_id=tag_id)
    tagging.update_tag(session, tag=tag, body=body, actor=actor)
    return _out(session, shop.id, tag.id)


@router.delete("/tags/{tag_id}", summary="Delete a tag", responses=NOT_FOUND)
def delete_tag(tag_id: RowId, session: DbSession, shop: CurrentShop, actor: Actor) -> TagDeleted:
    """Delete the tag and take it off every friend (each friend's tag history keeps it)."""
    tag = tagging.get_tag(session, shop_id=shop.id, tag_id=tag_id)
    name = tag.name
    untagged = tagging.delete_tag(session, tag=tag, actor=actor)
    return TagDeleted(name=name, friends_untagged=untagged)


def _bulk(
    session: DbSession, shop_id: int, tag_id: int, body: BulkTagIn, actor: str, *, add: bool
) -> BulkTagOut:
    tag = tagging.get_tag(session, shop_id=shop_id, tag_id=tag_id)
    found = tagging.shop_friend_ids(session, shop_id=shop_id, friend_ids=body.friend_ids)
    outcome = tagging.tag_many(
        session,
        tag=tag,
        friend_ids=[i for i in body.friend_ids if i in found],
        add=add,
        source=actor,
    )
    tagging.audit_bulk(session, tag=tag, add=add, actor=actor, outcome=outcome)
    return BulkTagOut(
        changed=outcome.changed,
        unchanged=outcome.unchanged,
        not_found=sorted({i for i in body.friend_ids if i not in found}),
    )


@router.post("/tags/{tag_id}/friends", summary="Tag many friends", responses=NOT_FOUND)
def tag_friends(
    tag_id: RowId, body: BulkTagIn, session: DbSession, shop: CurrentShop, actor: Actor
) -> BulkTagOut:
    """Put the tag on up to 10,000 friends at once; each friend's tag history names the token."""
    return _bulk(session, shop.id, tag_id, body, actor, add=True)


@router.post("/tags/{tag_id}/friends/remove", summary="Untag many friends", responses=NOT_FOUND)
def untag_friends(
    tag_id: RowId, body: BulkTagIn, session: DbSession, shop: CurrentShop, actor: Actor
) -> BulkTagOut:
    """Take the tag off up to 10,000 friends at once."""
    return _bulk(session, shop.id, tag_id, body, actor, add=False)
