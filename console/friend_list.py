"""The friends list: search, filters, sort and pages with a live count, and the bulk actions
over what it shows (tags, owner, CSV export, save as a segment) with a job's progress."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import select

from console.auth import CurrentStaff, DbSession, FormStaff, client_ip
from console.context import PREFIX, is_htmx, render
from core import csvfile
from core.ids import RowId
from crm import fields, owners
from idlink import tag_queries
from idlink.models import FriendStatus, Tag
from idlink.queries import render_friends
from messaging.friend_list import bulk as friend_bulk
from messaging.friend_list import export as friend_export
from messaging.friend_list import queries as friend_list
from messaging.friend_list.bulk import BulkIn
from messaging.friend_list.export import SegmentFromFilters
from messaging.friend_list.filters import FriendFilters, FriendSort
from messaging.friend_list.models import BulkState
from staff.permissions import Action

router = APIRouter()

PAGE_SIZE = 50
# How often a running bulk action's page asks for its progress (htmx polling).
PROGRESS_POLL = "every 1s"


def _query_string(request: Request, *, drop: tuple[str, ...] = ("cursor",)) -> str:
    return urlencode([(k, v) for k, v in request.query_params.multi_items() if k not in drop and v])


@router.get("/friends")
def friends_page(
    request: Request,
    staff: CurrentStaff,
    session: DbSession,
    filters: Annotated[FriendFilters, Query()],
    cursor: str | None = None,
) -> Response:
    """Friends: search, filter, sort, page on; the count follows the filters as they change."""
    staff.require(Action.READ_FRIENDS)
    query = friend_list.filtered(session, staff.shop.id, filters, channel_scope=staff.channel_scope)
    count = friend_list.count(session, query)
    found = friend_list.page(session, query, filters.sort, limit=PAGE_SIZE, cursor=cursor)
    values = {
        "filters": filters,
        "friends": render_friends(session, staff.shop.id, found.friends),
        "count": count,
        "next_cursor": found.next_cursor,
        "tags": session.scalars(
            select(Tag.name).where(Tag.shop_id == staff.shop.id).order_by(Tag.name)
        ).all(),
        "statuses": list(FriendStatus),
        "tag_colours": tag_queries.colours(session, staff.shop.id),
        "sorts": list(FriendSort),
        "shop_staff": owners.shop_staff(session, staff.shop.id),
        "query_without_cursor": _query_string(request, drop=("cursor", "saved")),
        "can_tag": staff.can(Action.TAG_FRIENDS),
        "can_assign": staff.can(Action.ASSIGN_OWNER),
        "can_export": staff.can(Action.EXPORT_FRIENDS),
        "can_segment": staff.can(Action.MANAGE_SEGMENTS),
        "can_fields": staff.can(Action.WRITE_FIELDS),
        "field_definitions": fields.definitions(session, staff.shop.id),
        "notice": request.query_params.get("saved"),
    }
    if is_htmx(request) and request.headers.get("hx-target") == "results":
        return render(request, "friends/_results.html", values)
    return render(request, "friends/list.html", values)


@router.post("/friends/bulk")
def start_bulk(
    request: Request,
    staff: FormStaff,
    session: DbSession,
    filters: Annotated[FriendFilters, Query()],
    body: Annotated[BulkIn, Form()],
) -> Response:
    """Tag, untag or assign every friend the list's filters match (the form's address carries
    them); small sets at once, large ones as a job whose progress page this leads to."""
    staff.require(friend_bulk.REQUIRED[body.action])
    job = friend_bulk.start(
        session,
        shop_id=staff.shop.id,
        filters=filters,
        body=body,
        actor=staff.actor,
        channel_scope=staff.channel_scope,
        ip=client_ip(request),
    )
    return RedirectResponse(f"{PREFIX}/friends/bulk/{job.id}", status_code=303)


@router.get("/friends/bulk/{job_id}")
def bulk_page(request: Request, job_id: RowId, staff: CurrentStaff, session: DbSession) -> Response:
    """A bulk action's progress: a bar that htmx refreshes until the job is done."""
    staff.require(Action.READ_FRIENDS)
    job = friend_bulk.get(session, shop_id=staff.shop.id, job_id=job_id)
    values = {
        "job": job,
        "running": job.state == BulkState.RUNNING,
        "poll": PROGRESS_POLL,
        "list_query": urlencode(
            [(k, v) for k, v in job.filters.items() if not isinstance(v, list)]
            + [(k, item) for k, v in job.filters.items() if isinstance(v, list) for item in v]
        ),
    }
    if is_htmx(request):
        return render(request, "friends/_bulk_progress.html", values)
    return render(request, "friends/bulk.html", values)


@router.get("/friends/export.csv")
def export_csv(
    request: Request,
    staff: CurrentStaff,
    session: DbSession,
    filters: Annotated[FriendFilters, Query()],
) -> Response:
    """The friends the filters match as a CSV file Excel opens as it is; audited."""
    staff.require(Action.EXPORT_FRIENDS)
    out, _rows = friend_export.write_csv(
        session,
        shop_id=staff.shop.id,
        filters=filters,
        actor=staff.actor,
        channel_scope=staff.channel_scope,
        ip=client_ip(request),
    )
    return csvfile.download(out, "friends.csv")


@router.post("/friends/segment")
def save_segment(
    request: Request,
    staff: FormStaff,
    session: DbSession,
    filters: Annotated[FriendFilters, Query()],
    body: Annotated[SegmentFromFilters, Form()],
) -> Response:
    """Save the list's filters as a segment (admins), and come back to the list."""
    staff.require(Action.MANAGE_SEGMENTS)
    segment = friend_export.save_segment(
        session, shop_id=staff.shop.id, name=body.name, filters=filters, actor=staff.actor
    )
    query = _query_string(request, drop=("cursor", "saved"))
    back = f"{query}&" if query else ""
    return RedirectResponse(
        f"{PREFIX}/friends?{back}{urlencode({'saved': segment.name})}", status_code=303
    )
