"""Friends of the shop's channels: follow status, profile, tags and the member each is linked to."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, Field

from api.admin.auth import Actor
from api.admin.pagination import DEFAULT_LIMIT, MAX_LIMIT, Cursor, Limit
from api.admin.schemas import ErrorBody, Page
from api.deps import CurrentShop, DbSession
from core import csvfile
from core.ids import RowId
from crm import notes, owners
from crm.notes import NoteChange, NoteIn, NoteOut
from crm.owners import OwnerIn
from idlink import tagging
from idlink.queries import find_friend, render_friends
from idlink.schemas import FriendOut, TagIn
from messaging import chart
from messaging.chart import FriendChart
from messaging.friend_list import bulk as friend_bulk
from messaging.friend_list import export as friend_export
from messaging.friend_list import queries as friend_list
from messaging.friend_list.bulk import BulkIn
from messaging.friend_list.export import SegmentFromFilters
from messaging.friend_list.filters import FriendFilters
from messaging.friend_list.models import BulkState

router = APIRouter(tags=["friends"])

# What the list's filters can be refused with once read: a custom field the shop does not have,
# or a value that does not fit it.
FILTER_REFUSED: dict[int | str, dict[str, Any]] = {
    400: {
        "model": ErrorBody,
        "description": "`InvalidFieldRule`: no such custom field, or a "
        "value or operator that does not fit it",
    }
}


@router.get("/friends", summary="List friends")
def list_friends(
    session: DbSession,
    shop: CurrentShop,
    filters: Annotated[FriendFilters, Query()],
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> Page[FriendOut]:
    """The shop's LINE friends with profile, follow status, tags and link, filtered and sorted
    (newest first unless `sort` says otherwise); a cursor pages on in the same sort."""
    query = friend_list.filtered(session, shop.id, filters)
    found = friend_list.page(session, query, filters.sort, limit=limit, cursor=cursor)
    items = render_friends(session, shop.id, found.friends)
    return Page(items=items, next_cursor=found.next_cursor)


class FriendCount(BaseModel):
    count: int = Field(description="Friends matching every filter given.")


@router.get("/friends/count", summary="Count friends", responses=FILTER_REFUSED)
def count_friends(
    session: DbSession, shop: CurrentShop, filters: Annotated[FriendFilters, Query()]
) -> FriendCount:
    """How many of the shop's friends match the filters (the list's filters), in one query."""
    query = friend_list.filtered(session, shop.id, filters)
    return FriendCount(count=friend_list.count(session, query))


class BulkRequest(BulkIn):
    """A bulk action and the filters that choose its friends (those of `GET /friends`)."""

    filters: FriendFilters = Field(default_factory=FriendFilters)


class BulkJobOut(BaseModel):
    """A bulk action: `running` until every matching friend is done (poll it), then `done`."""

    id: int
    action: str
    state: str
    total: int = Field(description="Friends the filters matched.")
    done: int = Field(description="Friends worked through so far.")
    changed: int = Field(description="Friends the action changed (a tag already there is not).")
    filters: dict[str, Any]
    created_at: datetime
    finished_at: datetime | None
    error: str | None


@router.post(
    "/friends/bulk",
    summary="Act on every friend a filter matches",
    responses={
        200: {"description": "Done at once (at most 1,000 friends)"},
        202: {"model": BulkJobOut, "description": "Running in a worker: poll its URL"},
        400: {
            "model": ErrorBody,
            "description": "`NothingToDo`, `NotShopStaff` or `InvalidFieldRule`",
        },
        404: {"model": ErrorBody, "description": "`FieldNotFound`: no such custom field"},
    },
)
def bulk_friends(
    body: BulkRequest, session: DbSession, shop: CurrentShop, actor: Actor, response: Response
) -> BulkJobOut:
    """Add or remove a tag, or set the owner, of every friend the filters match; audited once.
    Over 1,000 friends it runs in a worker (202); `GET /friends/bulk/{id}` shows its progress."""
    job = friend_bulk.start(session, shop_id=shop.id, filters=body.filters, body=body, actor=actor)
    if job.state == BulkState.RUNNING:
        response.status_code = 202
    return BulkJobOut.model_validate(job, from_attributes=True)


@router.get(
    "/friends/bulk/{job_id}",
    summary="Get a bulk action's progress",
    responses={404: {"model": ErrorBody, "description": "No such bulk action in this shop"}},
)
def get_bulk_job(job_id: RowId, session: DbSession, shop: CurrentShop) -> BulkJobOut:
    """How far a bulk action got."""
    job = friend_bulk.get(session, shop_id=shop.id, job_id=job_id)
    return BulkJobOut.model_validate(job, from_attributes=True)


@router.get(
    "/friends/export.csv",
    summary="Export friends as CSV",
    response_class=Response,
    responses={
        200: {"content": {"text/csv": {}}, "description": "UTF-8 with a BOM"},
        **FILTER_REFUSED,
    },
)
def export_friends(
    session: DbSession,
    shop: CurrentShop,
    actor: Actor,
    filters: Annotated[FriendFilters, Query()],
) -> Response:
    """The friends the filters match as CSV (UTF-8 with a BOM: Excel opens it as it is);
    cells a spreadsheet would run as a formula are written with a leading `'`. Audited."""
    out, _rows = friend_export.write_csv(session, shop_id=shop.id, filters=filters, actor=actor)
    return csvfile.download(out, "friends.csv")


class SegmentFromListRequest(SegmentFromFilters):
    filters: FriendFilters = Field(default_factory=FriendFilters)


class SavedSegment(BaseModel):
    name: str
    rules: dict[str, Any]


@router.post(
    "/friends/segment",
    summary="Save a friends filter as a segment",
    status_code=201,
    responses={422: {"model": ErrorBody, "description": "`NotASegment`: filters it cannot hold"}},
)
def save_friends_segment(
    body: SegmentFromListRequest, session: DbSession, shop: CurrentShop, actor: Actor
) -> SavedSegment:
    """Save the list's status, link, tag, purchase and booking filters as a segment (created,
    or its rules replaced). A search, an owner or message filters cannot be a segment's."""
    segment = friend_export.save_segment(
        session, shop_id=shop.id, name=body.name, filters=body.filters, actor=actor
    )
    return SavedSegment(name=segment.name, rules=segment.rules)


@router.get(
    "/friends/{friend_id}",
    summary="Get a friend",
    responses={404: {"model": ErrorBody, "description": "No such friend in this shop"}},
)
def get_friend(friend_id: RowId, session: DbSession, shop: CurrentShop) -> FriendOut:
    """One friend of the shop."""
    friend = find_friend(session, shop.id, friend_id)
    return render_friends(session, shop.id, [friend])[0]


@router.get(
    "/friends/{friend_id}/chart",
    summary="Get a friend's chart",
    responses={404: {"model": ErrorBody, "description": "No such friend in this shop"}},
)
def get_friend_chart(
    friend_id: RowId,
    session: DbSession,
    shop: CurrentShop,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Timeline entries.")] = 30,
    cursor: Cursor = None,
) -> FriendChart:
    """The customer chart the console shows: the friend, their member, and a timeline of their
    messages, deliveries, purchases, bookings and staff changes, newest first."""
    return chart.friend_chart(
        session, shop.id, friend_id, include_personal=True, limit=limit, cursor=cursor
    )


@router.post(
    "/friends/{friend_id}/tags",
    summary="Tag a friend",
    status_code=201,
    responses={404: {"model": ErrorBody, "description": "No such friend in this shop"}},
)
def add_friend_tag(
    friend_id: RowId, body: TagIn, session: DbSession, shop: CurrentShop, actor: Actor
) -> FriendOut:
    """Put a tag on the friend (creating the tag if new); audited with the token's name."""
    friend = find_friend(session, shop.id, friend_id)
    tagging.add_by_hand(session, friend=friend, name=body.name, actor=actor)
    return render_friends(session, shop.id, [friend])[0]


@router.delete(
    "/friends/{friend_id}/tags/{name}",
    summary="Untag a friend",
    responses={404: {"model": ErrorBody, "description": "No such friend in this shop"}},
)
def remove_friend_tag(
    friend_id: RowId, name: str, session: DbSession, shop: CurrentShop, actor: Actor
) -> FriendOut:
    """Take a tag off the friend; audited with the token's name."""
    friend = find_friend(session, shop.id, friend_id)
    tagging.remove_by_hand(session, friend=friend, name=name, actor=actor)
    return render_friends(session, shop.id, [friend])[0]


@router.post(
    "/friends/{friend_id}/notes",
    summary="Add a note to a friend",
    status_code=201,
    responses={404: {"model": ErrorBody, "description": "No such friend in this shop"}},
)
def add_friend_note(
    friend_id: RowId, body: NoteIn, session: DbSession, shop: CurrentShop, actor: Actor
) -> NoteOut:
    """A note on the friend, authored by the token (`token:<name>`); audited with its text."""
    friend = find_friend(session, shop.id, friend_id)
    return NoteOut.model_validate(
        notes.add_note(session, friend=friend, body=body, author=actor), from_attributes=True
    )


@router.patch(
    "/friends/{friend_id}/notes/{note_id}",
    summary="Edit or pin a note",
    responses={
        403: {"model": ErrorBody, "description": "The note's text is another author's"},
        404: {"model": ErrorBody, "description": "No such friend or note in this shop"},
    },
)
def edit_friend_note(
    friend_id: RowId,
    note_id: RowId,
    body: NoteChange,
    session: DbSession,
    shop: CurrentShop,
    actor: Actor,
) -> NoteOut:
    """Change the text (its author only; the audit log keeps the earlier text) or pin it."""
    friend = find_friend(session, shop.id, friend_id)
    note = notes.get_note(session, friend, note_id)
    if body.body is not None:
        notes.edit_note(session, note=note, body=NoteIn(body=body.body), actor=actor)
    if body.pinned is not None:
        notes.set_pinned(session, note=note, pinned=body.pinned, actor=actor)
    return NoteOut.model_validate(note, from_attributes=True)


@router.put(
    "/friends/{friend_id}/owner",
    summary="Set a friend's owner",
    responses={
        400: {"model": ErrorBody, "description": "`NotShopStaff`: not a staff member here"},
        404: {"model": ErrorBody, "description": "No such friend in this shop"},
    },
)
def set_friend_owner(
    friend_id: RowId, body: OwnerIn, session: DbSession, shop: CurrentShop, actor: Actor
) -> OwnerIn:
    """Make a staff member of the shop the friend's owner (担当者), or nobody (`null`)."""
    friend = find_friend(session, shop.id, friend_id)
    return OwnerIn(email=owners.set_owner(session, friend=friend, email=body.email, actor=actor))
