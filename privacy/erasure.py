"""Erasure of one person (APPI 利用停止・消去, Shopify ``customers/redact``): every value that
names them goes from every table; rows others need (orders, sends, links, audit) stay, so
counts and reports still add up, with the personal fields cleared or replaced by a marker.
"""

from __future__ import annotations

import logging
from collections import Counter
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from commerce import privacy as commerce_privacy
from commerce.models import Connection
from core import audit
from core.audit import AuditLog
from core.clock import utcnow
from core.inbox import EventStatus, InboundEvent
from idlink.identities import ExternalIdentity
from messaging.outbox.models import (
    Delivery,
    DeliveryContent,
)
from privacy import erase_rows, people
from privacy.people import Person
from privacy.search import ERASED_PAYLOAD, SCAN_CHUNK, audit_naming, events_naming, mentions

log = logging.getLogger(__name__)

ERASED_MESSAGES: list[dict[str, Any]] = [{"type": "text", "text": "(erased)"}]


def erase(
    session: Session,
    *,
    person: Person,
    actor: str,
    subject_type: str,
    subject_id: object,
    now: datetime | None = None,
    request_event_id: int | None = None,
    ip: str | None = None,
) -> dict[str, int]:
    """Erase the person everywhere in their shop; return (and audit) how many rows of each kind
    were changed. Idempotent: erasing again finds nothing more.

    ``request_event_id`` is the stored request asking for it (a redaction webhook): it names the
    person only by the store's ids, and is being processed, so it is left as it is."""
    now = now or utcnow()
    needles = person.needles()
    counts: Counter[str] = Counter()
    # Both long scans before the first write: they look for the values the row updates below
    # clear, and on SQLite a write takes the lock intake needs until the caller commits.
    named_events = events_naming(session, person, needles, keep=request_event_id)
    named_audit = audit_naming(session, person.shop_id, needles)
    counts["inbound_events"] = _erase_events(session, named_events, now)
    counts["audit_log"] = _erase_audit(session, named_audit)
    counts["delivery_contents"] = _erase_contents(session, person.friend_ids, needles)
    counts |= erase_rows.erase_friend_rows(session, person, now)
    counts |= erase_rows.erase_member_rows(session, person, now)
    identities = [i for i in person.identities if _identifies(i)]
    commerce_privacy.erase_identities(session, identities, now)
    counts["external_identities"] = len(identities)
    report = {name: n for name, n in sorted(counts.items()) if n}
    audit.record(
        session,
        shop_id=person.shop_id,
        actor=actor,
        action="privacy.erased",
        subject_type=subject_type,
        subject_id=subject_id,
        now=now,
        counts=report,
        **({"ip": ip} if ip else {}),
    )
    log.info("erased %s %s: %s", subject_type, subject_id, report)
    return report


def _erase_events(session: Session, named: list[tuple[int, str]], now: datetime) -> int:
    erased = [event_id for event_id, _ in named]
    pending = [event_id for event_id, status in named if status == EventStatus.PENDING]
    for start in range(0, len(erased), SCAN_CHUNK):
        ids = erased[start : start + SCAN_CHUNK]
        session.execute(
            update(InboundEvent).where(InboundEvent.id.in_(ids)).values(payload=ERASED_PAYLOAD)
        )
    if pending:
        # Applying them now would write the person back: they are done, with the reason.
        session.execute(
            update(InboundEvent)
            .where(InboundEvent.id.in_(pending))
            .values(status=EventStatus.PROCESSED, processed_at=now, last_error=erase_rows.REASON)
        )
    return len(erased)


def _erase_audit(session: Session, erased: list[int]) -> int:
    for start in range(0, len(erased), SCAN_CHUNK):
        ids = erased[start : start + SCAN_CHUNK]
        session.execute(update(AuditLog).where(AuditLog.id.in_(ids)).values(detail=ERASED_PAYLOAD))
    return len(erased)


def _erase_contents(session: Session, friend_ids: list[int], needles: set[str]) -> int:
    """Rendered messages personalised to the person (their name in a thank-you)."""
    if not friend_ids:
        return 0
    hashes = select(Delivery.content_hash).where(Delivery.friend_id.in_(friend_ids)).distinct()
    contents = session.execute(
        select(DeliveryContent.content_hash, DeliveryContent.payload).where(
            DeliveryContent.content_hash.in_(hashes)
        )
    ).all()
    personal = [h for h, payload in contents if mentions(payload, needles)]
    if personal:
        session.execute(
            update(DeliveryContent)
            .where(DeliveryContent.content_hash.in_(personal))
            .values(payload=ERASED_MESSAGES, purged_at=utcnow())
        )
    return len(personal)


def _identifies(identity: ExternalIdentity) -> bool:
    return any(
        (
            identity.email,
            identity.phone,
            identity.name,
            identity.member_number,
            identity.line_user_id,
            identity.member_id,
        )
    )


def erase_friend(
    session: Session,
    *,
    shop_id: int,
    friend_id: int,
    actor: str,
    now: datetime | None = None,
    ip: str | None = None,
) -> dict[str, int]:
    """Erase the person behind a friend (and the members linked to it)."""
    person = people.of_friend(session, shop_id=shop_id, friend_id=friend_id)
    return erase(
        session,
        person=person,
        actor=actor,
        subject_type="friend",
        subject_id=friend_id,
        now=now,
        ip=ip,
    )


def erase_member(
    session: Session, *, shop_id: int, member_id: int, actor: str, now: datetime | None = None
) -> dict[str, int]:
    """Erase the person behind a member (and the friends linked to it)."""
    person = people.of_member(session, shop_id=shop_id, member_id=member_id)
    return erase(
        session, person=person, actor=actor, subject_type="member", subject_id=member_id, now=now
    )


def on_connector_event(session: Session, event: InboundEvent) -> None:
    """Shopify ``customers/redact``: erase the person the customer resolved to, everywhere.

    Runs before the store's own handling, which then clears the customer's identities (it
    finds them by the store's ids, which erasure keeps)."""
    if event.source != "shopify" or event.event_type != "customers/redact":
        return
    connection = session.get(Connection, event.connection_id) if event.connection_id else None
    if connection is None:
        return
    found = commerce_privacy.customer_identities(
        session, connection, event.payload, "orders_to_redact"
    )
    if not found:
        return
    person = people.of_identities(session, shop_id=connection.shop_id, identities=found)
    erase(
        session,
        person=person,
        actor=commerce_privacy.ACTOR,
        subject_type="connection",
        subject_id=connection.id,
        request_event_id=event.id,
    )
