"""Segments: declare a rule tree by name, and see who is in it now (live count and sample)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from api.admin.auth import Actor
from api.admin.schemas import NAME_MISMATCH, ErrorBody, OpenApiResponses, require_path_name
from api.deps import CurrentShop, DbSession
from idlink import service as idlink_service
from messaging.segments import queries, segments
from messaging.segments.models import Segment
from messaging.segments.schemas import SegmentSpec

router = APIRouter(tags=["segments"])

_NOT_FOUND: OpenApiResponses = {
    404: {"model": ErrorBody, "description": "No such segment (or channel)"}
}


class SegmentOut(BaseModel):
    id: int
    name: str
    rules: dict[str, Any]
    created_at: datetime
    updated_at: datetime


class SegmentList(BaseModel):
    items: list[SegmentOut]


class RecipientOut(BaseModel):
    friend_id: int
    display_name: str | None
    status: str


class SegmentPreview(BaseModel):
    """Who the segment selects right now on one channel."""

    count: int = Field(description="Friends in the segment now (one SQL query).")
    sample: list[RecipientOut] = Field(description="The first of them, by friend id.")


def _out(segment: Segment) -> SegmentOut:
    return SegmentOut(
        id=segment.id,
        name=segment.name,
        rules=segment.rules,
        created_at=segment.created_at,
        updated_at=segment.updated_at,
    )


@router.get("/segments", summary="List segments")
def list_segments(session: DbSession, shop: CurrentShop) -> SegmentList:
    rows = queries.segments(session, shop_id=shop.id)
    return SegmentList(items=[_out(s) for s in rows])


@router.put(
    "/segments/{name}",
    summary="Create or update a segment",
    responses={
        **NAME_MISMATCH,
        422: {"model": ErrorBody, "description": "An invalid rule, and why"},
    },
)
def put_segment(
    name: str, body: SegmentSpec, session: DbSession, shop: CurrentShop, actor: Actor
) -> SegmentOut:
    """Declare the segment ``name`` with its rule tree (docs/guides/segments.md lists the rules)."""
    require_path_name(name, body)
    return _out(segments.save(session, shop_id=shop.id, spec=body, actor=actor))


@router.get("/segments/{name}/preview", summary="Count and sample a segment", responses=_NOT_FOUND)
def preview_segment(
    name: str,
    session: DbSession,
    shop: CurrentShop,
    channel: str = Query(description="The LINE channel id whose friends are counted."),
    size: int = Query(20, ge=0, le=200, description="How many friends to show."),
) -> SegmentPreview:
    segment = segments.get(session, shop_id=shop.id, name=name)
    line_channel = idlink_service.shop_channel(session, shop=shop, line_channel_id=channel)
    found = segments.preview(session, segment=segment, channel=line_channel, size=size)
    return SegmentPreview(
        count=found.count,
        sample=[_recipient(r) for r in found.sample],
    )


def _recipient(recipient: segments.Recipient) -> RecipientOut:
    return RecipientOut(
        friend_id=recipient.friend_id,
        display_name=recipient.display_name,
        status=recipient.status,
    )
