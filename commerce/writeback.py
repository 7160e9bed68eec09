"""Writing LINE links back to the CRM: an outbox of link changes, flushed to Salesforce.

When a friend links or unlinks, the shop's Salesforce Contacts should show it (the LINE user id
and a linked flag, upserted by an external-id field such as ``Member_Number__c``). The link
itself must never wait on Salesforce, and idlink cannot know about commerce, so:

1. ``idlink`` commits the :class:`~idlink.models.MemberLink` row (its ``linked_at`` and later
   ``unlinked_at``) — nothing else happens in the link's transaction.
2. :func:`collect_link_changes` (the ``connectors.writeback`` task, on beat) finds link changes
   that have no outbox row yet for a write-back connection of the same shop and adds one. The
   outbox is unique on (connection, link, change), so the scan is idempotent, and because it
   compares with the table instead of a timestamp watermark it misses nothing a slow or
   back-dated transaction committed late.
3. :func:`flush_connection` sends each connection's due rows in sObject Collections requests of
   up to 200, only the latest change per member; failures back off and retry, records Salesforce
   refuses (no such Contact) stop at ``failed`` with its message, and an exhausted API
   allocation waits for the connection's pause to end.
"""

from __future__ import annotations

import enum
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import (
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
    and_,
    exists,
    func,
    select,
)
from sqlalchemy.orm import Mapped, Session, mapped_column

from commerce.connections import connector_for
from commerce.models import Connection, ConnectionStatus
from connectors.errors import ConnectorError, LimitExhausted
from connectors.options import parse_options
from connectors.salesforce.client import COLLECTION_LIMIT, SalesforceClient
from connectors.salesforce.connector import SalesforceConnector
from connectors.salesforce.settings import SalesforceOptions, writeback_mapping
from core.clock import utcnow
from core.db import Base, Database
from idlink.models import Friend, Member, MemberLink

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 10
SCAN_LIMIT = 1000
# Per-record errors worth another try; any other refusal will fail the same way again.
RETRIABLE_RECORD_ERRORS = frozenset({"UNABLE_TO_LOCK_ROW", "SERVER_UNAVAILABLE"})


class Change(enum.StrEnum):
    LINKED = "linked"
    UNLINKED = "unlinked"


class WritebackState(enum.StrEnum):
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"
    # A newer change of the same member was sent in its place.
    SUPERSEDED = "superseded"


class CrmWriteback(Base):
    """One link change to write onto a CRM contact: pending until sent, with its attempts."""

    __tablename__ = "crm_writebacks"

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id"))
    connection_id: Mapped[int] = mapped_column(ForeignKey("connections.id"))
    member_link_id: Mapped[int] = mapped_column(ForeignKey("member_links.id"))
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    change: Mapped[str] = mapped_column(String(16))
    occurred_at: Mapped[datetime]
    state: Mapped[str] = mapped_column(String(16), default=WritebackState.PENDING)
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_error: Mapped[str | None] = mapped_column(Text)
    crm_record_id: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None]

    __table_args__ = (
        UniqueConstraint("connection_id", "member_link_id", "change"),
        Index("ix_crm_writebacks_due", "connection_id", "state", "next_attempt_at"),
    )


@dataclass(slots=True)
class FlushResult:
    sent: int = 0
    failed: int = 0
    retrying: int = 0
    superseded: int = 0
    errors: list[str] = field(default_factory=list)


def writeback_connections(session: Session) -> list[Connection]:
    """Salesforce connections with write-back configured (``options.writeback``)."""
    candidates = session.scalars(
        select(Connection).where(
            Connection.kind == SalesforceConnector.kind,
            Connection.status != ConnectionStatus.DISABLED,
        )
    )
    return [
        c
        for c in candidates
        if writeback_mapping(parse_options(SalesforceOptions, c.kind, c.options or {}))
    ]


def enqueue_link_change(
    session: Session, *, connection: Connection, link: MemberLink, change: Change
) -> CrmWriteback | None:
    """Add the outbox row of one link change unless it is there already."""
    occurred_at = link.linked_at if change == Change.LINKED else link.unlinked_at
    if occurred_at is None:
        raise ValueError(f"link {link.id} has no {change} time")
    existing = session.scalar(
        select(CrmWriteback.id).where(
            CrmWriteback.connection_id == connection.id,
            CrmWriteback.member_link_id == link.id,
            CrmWriteback.change == change,
        )
    )
    if existing is not None:
        return None
    row = CrmWriteback(
        shop_id=link.shop_id,
        connection_id=connection.id,
        member_link_id=link.id,
        member_id=link.member_id,
        change=change,
        occurred_at=occurred_at,
        # Due from the moment the change happened.
        next_attempt_at=occurred_at,
    )
    session.add(row)
    return row


def collect_link_changes(session: Session, *, limit: int = SCAN_LIMIT) -> int:
    """Add outbox rows for every link change not yet queued for each write-back connection."""
    added = 0
    for connection in writeback_connections(session):
        for change in (Change.LINKED, Change.UNLINKED):
            for link in _unqueued(session, connection, change, limit):
                if enqueue_link_change(session, connection=connection, link=link, change=change):
                    added += 1
    session.flush()
    return added


def _unqueued(
    session: Session, connection: Connection, change: Change, limit: int
) -> list[MemberLink]:
    queued = exists().where(
        CrmWriteback.connection_id == connection.id,
        CrmWriteback.member_link_id == MemberLink.id,
        CrmWriteback.change == change,
    )
    condition = MemberLink.shop_id == connection.shop_id
    if change == Change.UNLINKED:
        condition = and_(condition, MemberLink.unlinked_at.is_not(None))
    query = select(MemberLink).where(condition, ~queued).order_by(MemberLink.id).limit(limit)
    return list(session.scalars(query))


def pending_rows(session: Session, *, connection_id: int) -> list[CrmWriteback]:
    """The connection's pending rows, oldest change first (locked on PostgreSQL)."""
    query = (
        select(CrmWriteback)
        .where(
            CrmWriteback.connection_id == connection_id,
            CrmWriteback.state == WritebackState.PENDING,
        )
        .order_by(CrmWriteback.occurred_at, CrmWriteback.id)
        .with_for_update(skip_locked=True)
    )
    return list(session.scalars(query))


def _client_of(connection: Connection) -> SalesforceClient:
    connector = connector_for(connection)
    if not isinstance(connector, SalesforceConnector):
        raise TypeError(f"connection {connection.id} is not a Salesforce connection")
    return connector.client


def flush_connection(
    session: Session,
    *,
    connection: Connection,
    now: datetime,
) -> FlushResult:
    """Send the connection's due link changes: the latest per member, 200 to a request."""
    result = FlushResult()
    if connection.status == ConnectionStatus.PAUSED and (
        connection.paused_until is not None and connection.paused_until > now
    ):
        return result
    latest: dict[int, CrmWriteback] = {}
    for row in pending_rows(session, connection_id=connection.id):
        # Only a member's latest change matters, even one that waits out a backoff: an older
        # change sent after it would put the Contact back in a state the member left.
        previous = latest.get(row.member_id)
        if previous is not None:
            previous.state = WritebackState.SUPERSEDED
            result.superseded += 1
        latest[row.member_id] = row
    batch = [row for row in latest.values() if row.next_attempt_at <= now]
    if not batch:
        return result
    client = _client_of(connection)
    try:
        for start in range(0, len(batch), COLLECTION_LIMIT):
            _send(session, client, connection, batch[start : start + COLLECTION_LIMIT], now, result)
    finally:
        client.close()
    log.info(
        "write-back to connection %s: %d sent, %d failed, %d retrying",
        connection.id,
        result.sent,
        result.failed,
        result.retrying,
    )
    return result


def _send(
    session: Session,
    client: SalesforceClient,
    connection: Connection,
    rows: list[CrmWriteback],
    now: datetime,
    result: FlushResult,
) -> None:
    writeback = client.settings.writeback
    if writeback is None:
        raise ValueError(f"connection {connection.id} has no write-back settings")
    records = [_payload(session, row, writeback) for row in rows]
    try:
        outcomes = client.upsert_collection(writeback["object"], writeback["match_field"], records)
    except LimitExhausted as exc:
        resume_at = exc.resume_at if isinstance(exc.resume_at, datetime) else now
        # The allocation is the org's: syncs of this connection wait for it too.
        connection.status, connection.paused_until = ConnectionStatus.PAUSED, resume_at
        connection.status_reason = f"paused until {resume_at:%Y-%m-%d %H:%M} UTC: {exc}"
        for row in rows:
            _retry_later(row, f"{exc}", at=resume_at, result=result, count_attempt=False)
        return
    except ConnectorError as exc:
        for row in rows:
            _retry_later(row, str(exc), at=None, now=now, result=result)
        return
    for row, outcome in zip(rows, outcomes, strict=False):
        if outcome.get("success"):
            row.state, row.sent_at = WritebackState.SENT, now
            row.crm_record_id = outcome.get("id")
            row.last_error = None
            result.sent += 1
            continue
        errors = outcome.get("errors") or [{}]
        code = str(errors[0].get("statusCode", ""))
        message = f"{code}: {errors[0].get('message', 'refused')}"
        if code in RETRIABLE_RECORD_ERRORS:
            _retry_later(row, message, at=None, now=now, result=result)
        else:
            row.state, row.last_error = WritebackState.FAILED, message
            row.attempts += 1
            result.failed += 1
            result.errors.append(message)
    for row in rows[len(outcomes) :]:
        _retry_later(row, "no result for this record", at=None, now=now, result=result)


def _payload(session: Session, row: CrmWriteback, writeback: dict[str, str]) -> dict[str, object]:
    member = session.get_one(Member, row.member_id)
    linked = row.change == Change.LINKED
    line_user_id = None
    if linked:
        link = session.get_one(MemberLink, row.member_link_id)
        line_user_id = session.get_one(Friend, link.friend_id).line_user_id
    return {
        writeback["match_field"]: member.member_number,
        writeback["line_user_id_field"]: line_user_id,
        writeback["linked_field"]: linked,
    }


def _retry_later(
    row: CrmWriteback,
    error: str,
    *,
    at: datetime | None,
    result: FlushResult,
    now: datetime | None = None,
    count_attempt: bool = True,
) -> None:
    if count_attempt:
        row.attempts += 1
    row.last_error = error[:2000]
    if row.attempts >= MAX_ATTEMPTS:
        row.state = WritebackState.FAILED
        result.failed += 1
        return
    base = now or utcnow()
    row.next_attempt_at = at or base + timedelta(seconds=min(30 * 2**row.attempts, 3600))
    result.retrying += 1


def summary(session: Session, *, connection_id: int) -> dict[str, int]:
    """How many write-backs of the connection are in each state (for status displays)."""
    query = (
        select(CrmWriteback.state, func.count())
        .where(CrmWriteback.connection_id == connection_id)
        .group_by(CrmWriteback.state)
    )
    return {state: count for state, count in session.execute(query)}


def process_writebacks(database: Database, *, now: datetime | None = None) -> FlushResult:
    """Queue new link changes, then flush every write-back connection (one transaction each)."""
    now = now or utcnow()
    with database.session_scope() as session:
        collect_link_changes(session)
        connection_ids = [c.id for c in writeback_connections(session)]
    total = FlushResult()
    for connection_id in connection_ids:
        with database.session_scope() as session:
            connection = session.get_one(Connection, connection_id)
            result = flush_connection(session, connection=connection, now=now)
        total.sent += result.sent
        total.failed += result.failed
        total.retrying += result.retrying
        total.superseded += result.superseded
        total.errors += result.errors
    return total
