"""Inbound webhook events as stored: what arrived, and whether processing it worked."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from fastapi import APIRouter, Query

from api.admin.pagination import DEFAULT_LIMIT, Cursor, Limit
from api.admin.schemas import ErrorBody, EventDetail, EventOut, Page
from api.deps import CurrentShop, DbSession
from core.errors import NotFound
from core.ids import RowId
from core.inbox import EventStatus, InboundEvent
from core.pagination import fetch_page
from core.queries import event_query, line_channel_ids

router = APIRouter(tags=["events"])


class EventNotFound(NotFound):
    """No stored event with this id in the caller's shop."""


def _fields(event: InboundEvent, channels: Mapping[int, str]) -> dict[str, object]:
    return {
        "id": event.id,
        "source": event.source,
        "channel_id": None if event.channel_id is None else channels.get(event.channel_id),
        "dedup_key": event.dedup_key,
        "event_type": event.event_type,
        "status": event.status,
        "attempts": event.attempts,
        "occurred_at": event.occurred_at,
        "received_at": event.received_at,
        "next_attempt_at": event.next_attempt_at,
        "processed_at": event.processed_at,
        "last_error": event.last_error,
    }


@router.get("/events", summary="List inbound events")
def list_events(
    session: DbSession,
    shop: CurrentShop,
    status: EventStatus | None = Query(None, description="`pending`, `processed` or `failed`."),
    type: str | None = Query(None, description="Event type, e.g. `follow`, `message`."),
    source: str | None = Query(None, description="Where it came from, e.g. `line`."),
    since: datetime | None = Query(None, description="Only received at or after this time."),
    until: datetime | None = Query(None, description="Only received before this time."),
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> Page[EventOut]:
    """The shop's stored webhook events, newest first (payloads: GET /events/{id})."""
    query = event_query(
        shop.id, status=status, event_type=type, source=source, since=since, until=until
    )
    events, next_cursor = fetch_page(session, query, InboundEvent.id, limit=limit, cursor=cursor)
    channels = line_channel_ids(session, shop.id)
    items = [EventOut.model_validate(_fields(e, channels)) for e in events]
    return Page(items=items, next_cursor=next_cursor)


@router.get(
    "/events/{event_id}",
    summary="Get an inbound event with its payload",
    responses={404: {"model": ErrorBody, "description": "No such event in this shop"}},
)
def get_event(event_id: RowId, session: DbSession, shop: CurrentShop) -> EventDetail:
    """One stored event, with the payload exactly as received."""
    event = session.get(InboundEvent, event_id)
    if event is None or event.shop_id != shop.id:
        raise EventNotFound(f"no event {event_id} in this shop: GET /events lists them")
    fields = _fields(event, line_channel_ids(session, shop.id))
    return EventDetail.model_validate({**fields, "payload": event.payload})
