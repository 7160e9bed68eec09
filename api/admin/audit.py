"""The shop's audit ledger, read-only: links, unlinks, member changes, imports."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Query

from api.admin.pagination import DEFAULT_LIMIT, Cursor, Limit
from api.admin.schemas import AuditEntryOut, Page
from api.deps import CurrentShop, DbSession
from core.audit import AuditLog
from core.pagination import fetch_page
from core.queries import audit_query

router = APIRouter(tags=["audit"])


@router.get("/audit", summary="List audit records")
def list_audit(
    session: DbSession,
    shop: CurrentShop,
    action: str | None = Query(None, description="e.g. `member.created`, `link.created`."),
    subject_type: str | None = Query(None, description="e.g. `member`, `friend`."),
    subject_id: str | None = Query(None, description="The subject's id (with `subject_type`)."),
    actor: str | None = Query(None, description="e.g. `token:crm-sync`, `cli`."),
    since: datetime | None = Query(None, description="Only recorded at or after this time."),
    until: datetime | None = Query(None, description="Only recorded before this time."),
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> Page[AuditEntryOut]:
    """Who did what to which record, newest first."""
    query = audit_query(
        shop.id,
        action=action,
        subject_type=subject_type,
        subject_id=subject_id,
        actor=actor,
        since=since,
        until=until,
    )
    entries, next_cursor = fetch_page(session, query, AuditLog.id, limit=limit, cursor=cursor)
    items = [
        AuditEntryOut(
            id=e.id,
            actor=e.actor,
            action=e.action,
            subject_type=e.subject_type,
            subject_id=e.subject_id,
            detail=e.detail or {},
            created_at=e.created_at,
        )
        for e in entries
    ]
    return Page(items=items, next_cursor=next_cursor)
