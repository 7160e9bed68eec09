"""Reads of the core tables the admin API pages through: the audit ledger, stored inbound
events, a shop's channels and the name of the token calling."""

from __future__ import annotations

from datetime import datetime
from typing import TypeVar

from sqlalchemy import Select, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from core.audit import AuditLog
from core.clock import as_utc
from core.crypto import sha256_hex
from core.inbox import EventStatus, InboundEvent
from core.tenancy import ApiToken, Channel

Row = TypeVar("Row")


def _within(
    query: Select[Row],
    column: InstrumentedAttribute[datetime],
    since: datetime | None,
    until: datetime | None,
) -> Select[Row]:
    """``query`` limited to ``since`` (included) to ``until`` (excluded) on ``column``."""
    if since is not None:
        query = query.where(column >= as_utc(since))
    if until is not None:
        query = query.where(column < as_utc(until))
    return query


def audit_query(
    shop_id: int,
    *,
    action: str | None = None,
    subject_type: str | None = None,
    subject_id: str | None = None,
    actor: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> Select[AuditLog]:
    """The shop's audit records matching every filter given (``until`` excluded)."""
    query = select(AuditLog).where(AuditLog.shop_id == shop_id)
    if action is not None:
        query = query.where(AuditLog.action == action)
    if subject_type is not None:
        query = query.where(AuditLog.subject_type == subject_type)
    if subject_id is not None:
        query = query.where(AuditLog.subject_id == subject_id)
    if actor is not None:
        query = query.where(AuditLog.actor == actor)
    return _within(query, AuditLog.created_at, since, until)


def event_query(
    shop_id: int,
    *,
    status: EventStatus | None = None,
    event_type: str | None = None,
    source: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> Select[InboundEvent]:
    """The shop's stored inbound events matching every filter given (``until`` excluded)."""
    query = select(InboundEvent).where(InboundEvent.shop_id == shop_id)
    if status is not None:
        query = query.where(InboundEvent.status == status)
    if event_type is not None:
        query = query.where(InboundEvent.event_type == event_type)
    if source is not None:
        query = query.where(InboundEvent.source == source)
    return _within(query, InboundEvent.received_at, since, until)


def line_channel_ids(session: Session, shop_id: int) -> dict[int, str]:
    """The shop's channels: row id → LINE channel id."""
    rows = session.execute(
        select(Channel.id, Channel.line_channel_id).where(Channel.shop_id == shop_id)
    )
    return {channel_id: line_channel_id for channel_id, line_channel_id in rows}


def token_name(session: Session, shop_id: int, plaintext: str) -> str | None:
    """The name of the shop's API token whose plaintext this is."""
    return session.scalar(
        select(ApiToken.name).where(
            ApiToken.shop_id == shop_id, ApiToken.token_hash == sha256_hex(plaintext)
        )
    )
