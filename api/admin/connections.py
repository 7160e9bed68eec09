"""Connections and their syncs (last runs, cursors, counts, errors), and the identity review list:
external customers that matched several members and were linked to none."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from api.admin.pagination import DEFAULT_LIMIT, Cursor, Limit
from api.admin.schemas import ErrorBody, Page
from api.deps import CurrentShop, DbSession
from commerce import sync
from commerce.models import Connection, SyncRun
from commerce.queries import shop_connections, stream_cursors
from core.errors import NotFound
from core.ids import RowId
from core.pagination import fetch_page
from idlink.identities import IdentityReview
from idlink.queries import identities_by_id, open_reviews_query

router = APIRouter(tags=["connections"])


class SyncRunOut(BaseModel):
    id: int
    stream: str
    mode: str = Field(description="incremental, full or since")
    status: str = Field(description="running, succeeded, failed or paused")
    started_at: datetime
    finished_at: datetime | None
    pages: int
    counts: dict[str, int] = Field(description="created, updated, unchanged, stale, skipped")
    cursor_before: str | None
    cursor_after: str | None
    error: str | None


class ConnectionOut(BaseModel):
    """A connection, its scheduling state and each stream's checkpoint; never its secrets."""

    id: int
    kind: str
    name: str
    base_url: str | None
    timezone: str
    status: str = Field(description="active, paused (with the reason and until when) or disabled")
    status_reason: str | None
    paused_until: datetime | None
    sync_interval_seconds: int
    syncing: bool = Field(description="A run holds the connection's lease right now")
    last_sync_started_at: datetime | None
    cursors: dict[str, str | None]
    last_runs: list[SyncRunOut]


class ReviewOut(BaseModel):
    """An external customer whose strong keys matched several members: linked to none."""

    id: int
    connection_id: int
    external_id: str
    candidate_member_ids: list[int]
    matched_on: dict[str, Any] = Field(description="member id → the keys it matched on")
    created_at: datetime


class ConnectionNotFound(NotFound):
    """No connection with this id in the caller's shop."""


def _run(run: SyncRun) -> SyncRunOut:
    return SyncRunOut.model_validate(run, from_attributes=True)


def _connection(session: DbSession, connection: Connection, runs: int) -> ConnectionOut:
    lease = connection.sync_lease_until
    return ConnectionOut(
        id=connection.id,
        kind=connection.kind,
        name=connection.name,
        base_url=connection.base_url,
        timezone=connection.timezone,
        status=connection.status,
        status_reason=connection.status_reason,
        paused_until=connection.paused_until,
        sync_interval_seconds=connection.sync_interval_seconds,
        syncing=lease is not None and lease > datetime.now(tz=lease.tzinfo),
        last_sync_started_at=connection.last_sync_started_at,
        cursors=stream_cursors(session, connection.id),
        last_runs=[_run(r) for r in sync.last_runs(session, connection.id, limit=runs)],
    )


@router.get("/connections", summary="List connections with their sync status")
def list_connections(session: DbSession, shop: CurrentShop) -> list[ConnectionOut]:
    """Every connection of the shop, with its last run per call."""
    return [_connection(session, c, runs=1) for c in shop_connections(session, shop.id)]


@router.get(
    "/connections/{connection_id}",
    summary="One connection: cursors and recent runs",
    responses={404: {"model": ErrorBody}},
)
def get_connection(connection_id: RowId, session: DbSession, shop: CurrentShop) -> ConnectionOut:
    connection = session.get(Connection, connection_id)
    if connection is None or connection.shop_id != shop.id:
        raise ConnectionNotFound(f"no connection {connection_id} in this shop")
    return _connection(session, connection, runs=20)


@router.get("/identity-reviews", summary="External customers that matched several members")
def list_reviews(
    session: DbSession,
    shop: CurrentShop,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> Page[ReviewOut]:
    """Open reviews, newest first: resolve them by fixing the members' data or linking by hand."""
    query = open_reviews_query(shop.id)
    reviews, next_cursor = fetch_page(session, query, IdentityReview.id, limit=limit, cursor=cursor)
    identities = identities_by_id(session, [r.identity_id for r in reviews])
    rows = [(review, identities[review.identity_id]) for review in reviews]
    return Page(
        items=[
            ReviewOut(
                id=review.id,
                connection_id=identity.connection_id,
                external_id=identity.external_id,
                candidate_member_ids=review.candidate_member_ids,
                matched_on=review.matched_on,
                created_at=review.created_at,
            )
            for review, identity in rows
        ],
        next_cursor=next_cursor,
    )
