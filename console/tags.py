"""タグ管理: the shop's tags by folder with how many friends carry each; create, rename,
recolour, move to a folder, and delete after seeing how many friends it would untag."""

from __future__ import annotations

import itertools
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from console.auth import CurrentStaff, DbSession, FormStaff, Staff, client_ip
from console.context import PREFIX, render
from core.ids import RowId
from idlink import tag_queries, tagging
from idlink.tag_schemas import TAG_COLOURS, TagCreate, TagUpdate
from staff.permissions import Action

router = APIRouter()


def _page(
    request: Request, staff: Staff, session: DbSession, *, error: str | None = None
) -> Response:
    tags = tag_queries.tag_list(session, staff.shop.id)
    folders = [
        (folder, list(group)) for folder, group in itertools.groupby(tags, key=lambda t: t.folder)
    ]
    return render(
        request,
        "tags/list.html",
        {
            "folders": folders,
            "folder_names": [name for name, _ in folders if name is not None],
            "colours": TAG_COLOURS,
            "count": len(tags),
            "error": error,
            "done": request.query_params.get("done"),
        },
        status_code=409 if error else 200,
    )


@router.get("/tags")
def tags_page(request: Request, staff: CurrentStaff, session: DbSession) -> Response:
    """Every tag of the shop, folderless first, then folder by folder (admin and above)."""
    staff.require(Action.MANAGE_TAGS)
    return _page(request, staff, session)


def _back(done: str, tag_id: int | None = None) -> Response:
    anchor = f"#tag-{tag_id}" if tag_id else ""
    return RedirectResponse(f"{PREFIX}/tags?done={done}{anchor}", status_code=303)


@router.post("/tags")
def create_tag(
    request: Request, staff: FormStaff, session: DbSession, body: Annotated[TagCreate, Form()]
) -> Response:
    """A new tag with its colour and folder; a taken name shows the page again with why."""
    staff.require(Action.MANAGE_TAGS)
    try:
        tag = tagging.create_tag(
            session, shop_id=staff.shop.id, body=body, actor=staff.actor, ip=client_ip(request)
        )
    except tagging.TagExists:
        return _page(request, staff, session, error=body.name)
    return _back("created", tag.id)


@router.post("/tags/{tag_id}")
def update_tag(
    request: Request,
    tag_id: RowId,
    staff: FormStaff,
    session: DbSession,
    body: Annotated[TagUpdate, Form()],
) -> Response:
    """Rename, recolour, or move the tag to a folder (a blank folder: out of its folder)."""
    staff.require(Action.MANAGE_TAGS)
    tag = tagging.get_tag(session, shop_id=staff.shop.id, tag_id=tag_id)
    # The form always sends the folder, but a blank field arrives as "not sent": say it was.
    whole = TagUpdate.model_validate(body.model_dump() | {"folder": body.folder})
    try:
        tagging.update_tag(session, tag=tag, body=whole, actor=staff.actor, ip=client_ip(request))
    except tagging.TagExists:
        return _page(request, staff, session, error=body.name)
    return _back("saved", tag.id)


@router.get("/tags/{tag_id}/delete")
def confirm_delete(
    request: Request, tag_id: RowId, staff: CurrentStaff, session: DbSession
) -> Response:
    """Asks before deleting, saying how many friends carry the tag."""
    staff.require(Action.MANAGE_TAGS)
    tag = tagging.get_tag(session, shop_id=staff.shop.id, tag_id=tag_id)
    return render(
        request,
        "tags/delete.html",
        {"tag": tag, "friends": tag_queries.carriers(session, tag.id)},
    )


@router.post("/tags/{tag_id}/delete")
def delete_tag(request: Request, tag_id: RowId, staff: FormStaff, session: DbSession) -> Response:
    """Delete the tag and take it off its friends; their tag history keeps the removal."""
    staff.require(Action.MANAGE_TAGS)
    tag = tagging.get_tag(session, shop_id=staff.shop.id, tag_id=tag_id)
    tagging.delete_tag(session, tag=tag, actor=staff.actor, ip=client_ip(request))
    return _back("deleted")
