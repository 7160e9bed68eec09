"""Step sequences: declare by name (steps, enrolment, exits, re-entry), list, and their figures."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from api.admin.auth import Actor
from api.admin.schemas import NAME_MISMATCH, ErrorBody, require_path_name
from api.deps import CurrentShop, DbSession
from core.errors import NotFound
from core.tenancy import Channel
from idlink import service as idlink_service
from messaging.campaigns import reports
from messaging.sequences import queries, sequences
from messaging.sequences.models import Sequence
from messaging.sequences.schemas import SequenceSpec

router = APIRouter(tags=["sequences"])


class SequenceOut(BaseModel):
    id: int
    name: str
    source: str = Field(description="The `source` of its deliveries.")
    spec: dict[str, Any]
    enrollments: dict[str, int] = Field(description="Enrolments by state.")
    deliveries: dict[str, int] = Field(description="Its step deliveries by state.")
    created_at: datetime
    updated_at: datetime


class SequenceList(BaseModel):
    items: list[SequenceOut]


def _out(session: DbSession, sequence: Sequence) -> SequenceOut:
    channel = session.get_one(Channel, sequence.channel_id)
    enrollments = queries.enrollments_by_state(session, sequence_id=sequence.id)
    figures = reports.source_figures(session, shop_id=sequence.shop_id, source=sequence.source)
    return SequenceOut(
        id=sequence.id,
        name=sequence.name,
        source=sequence.source,
        spec=sequences.spec_of(session, sequence, channel),
        enrollments=enrollments,
        deliveries=figures.by_state,
        created_at=sequence.created_at,
        updated_at=sequence.updated_at,
    )


@router.get("/sequences", summary="List step sequences")
def list_sequences(session: DbSession, shop: CurrentShop) -> SequenceList:
    rows = queries.sequences(session, shop_id=shop.id)
    return SequenceList(items=[_out(session, s) for s in rows])


@router.put(
    "/sequences/{name}",
    summary="Create or update a step sequence",
    responses={
        **NAME_MISMATCH,
        404: {"model": ErrorBody, "description": "No such channel in this shop"},
        422: {"model": ErrorBody, "description": "Invalid spec or template, and why"},
    },
)
def put_sequence(
    name: str, body: SequenceSpec, session: DbSession, shop: CurrentShop, actor: Actor
) -> SequenceOut:
    """Declare the sequence ``name``; ``active: false`` pauses enrolment and steps."""
    require_path_name(name, body)
    channel = idlink_service.shop_channel(session, shop=shop, line_channel_id=body.channel)
    sequence = sequences.save(session, shop_id=shop.id, channel=channel, spec=body, actor=actor)
    return _out(session, sequence)


@router.get(
    "/sequences/{name}",
    summary="Get a step sequence",
    responses={404: {"model": ErrorBody, "description": "No such sequence in this shop"}},
)
def get_sequence(name: str, session: DbSession, shop: CurrentShop) -> SequenceOut:
    sequence = sequences.find(session, shop_id=shop.id, name=name)
    if sequence is None:
        raise NotFound(f"no sequence {name!r} in this shop: GET /sequences lists them")
    return _out(session, sequence)
