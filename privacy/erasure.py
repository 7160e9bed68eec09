"""Erasure of one person (APPI 利用停止・消去, Shopify ``customers/redact``): every value that
names them goes from every table; rows others need (orders, sends, links, audit) stay, so
counts and reports still add up, with the personal fields cleared or replaced by a marker.
"""

from __future__ import annotations

import logging
from collections import Counter
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from commerce import privacy as commerce_privacy
from commerce.models import Connection
from core import audit
from core.audit import AuditLog
from core.clock import utcnow
from core.inbox import EventStatus, InboundEvent
from crm.models import FriendOwner, Note
from idlink.identities import ExternalIdentity
from idlink.models import (
    ConversationMessage,
    FriendStatus,
    FriendTag,
    FriendTagEvent,
    LinkCode,
    LinkNonce,
    MemberLink,
    VerificationThrottle,
)
from idlink.verification import line_subject, member_subject
from messaging.compose.models import LinkClick, TrackedLink
from messaging.outbox.models import (
    ConsentRecord,
    Delivery,
    DeliveryContent,
    DeliveryState,
    ReplyToken,
)
from messaging.rich_menus.models import FriendRichMenu
from messaging.sequences.models import Enrollment, EnrollmentState
from privacy import people
from privacy.people import Person
from privacy.search import ERASED_PAYLOAD, SCAN_CHUNK, audit_naming, events_naming, mentions

log = logging.getLogger(__name__)

ERASED_MESSAGES: list[dict[str, Any]] = [{"type": "text", "text": "(erased)"}]
REASON = "the person's data was erased on request"


def erased_marker(kind: str, row_id: int) -> str:
    """What replaces an identifier that must stay unique (a LINE user id, a member number)."""
    return f"erased:{kind}:{row_id}"


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
    # Scans first: they look for the values the row updates below clear.
    counts["inbound_events"] = _erase_events(session, person, needles, now, request_event_id)
    counts["audit_log"] = _erase_audit(session, person.shop_id, needles)
    counts["delivery_contents"] = _erase_contents(session, person.friend_ids, needles)
    counts |= _erase_friend_rows(session, person, now)
    counts |= _erase_member_rows(session, person, now)
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


def _erase_events(
    session: Session, person: Person, needles: set[str], now: datetime, keep: int | None
) -> int:
    named = events_naming(session, person, needles, keep=keep)
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
            .values(status=EventStatus.PROCESSED, processed_at=now, last_error=REASON)
        )
    return len(erased)


def _erase_audit(session: Session, shop_id: int, needles: set[str]) -> int:
    erased = audit_naming(session, shop_id, needles)
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


def _erase_friend_rows(session: Session, person: Person, now: datetime) -> Counter[str]:
    counts: Counter[str] = Counter()
    friends = [f for f in person.friends if f.status != FriendStatus.ERASED]
    ids = [f.id for f in friends]
    if not ids:
        return counts
    user_ids = [f.line_user_id for f in friends]
    for friend in friends:
        # A friend acting for themselves (linking in LIFF) is named by their user id.
        counts["actors"] += _replace_actor(session, person.shop_id, friend.line_user_id, friend.id)
        friend.line_user_id = erased_marker("friend", friend.id)
        friend.display_name = friend.picture_url = friend.status_message = None
        friend.language = friend.follow_route = None
        friend.status = FriendStatus.ERASED
        friend.status_changed_at = now
    counts["friends"] = len(ids)
    counts["conversation_messages"] = _rowcount(
        session.execute(
            update(ConversationMessage)
            .where(ConversationMessage.friend_id.in_(ids))
            .values(text=None, payload=ERASED_PAYLOAD)
        )
    )
    counts["deliveries_cancelled"] = _rowcount(
        session.execute(
            update(Delivery)
            .where(
                Delivery.friend_id.in_(ids),
                Delivery.state.in_([DeliveryState.PENDING, DeliveryState.HELD]),
            )
            .values(state=DeliveryState.CANCELLED, reason=REASON, updated_at=now)
        )
    )
    counts["enrollments_exited"] = _rowcount(
        session.execute(
            update(Enrollment)
            .where(Enrollment.friend_id.in_(ids), Enrollment.state == EnrollmentState.ACTIVE)
            .values(
                state=EnrollmentState.EXITED,
                exit_reason="erased",
                next_due_at=None,
                next_position=None,
                finished_at=now,
            )
        )
    )
    links = select(TrackedLink.code).where(TrackedLink.friend_id.in_(ids))
    counts["link_clicks"] = _rowcount(
        session.execute(
            update(LinkClick)
            .where(LinkClick.code.in_(links), LinkClick.user_agent.is_not(None))
            .values(user_agent=None)
        )
    )
    for model, column in (
        (ReplyToken, ReplyToken.friend_id),
        (FriendTag, FriendTag.friend_id),
        (FriendTagEvent, FriendTagEvent.friend_id),
        (FriendRichMenu, FriendRichMenu.friend_id),
    ):
        counts[model.__tablename__] = _rowcount(
            session.execute(delete(model).where(column.in_(ids)))
        )
    counts["notes"] = _rowcount(session.execute(delete(Note).where(Note.friend_id.in_(ids))))
    counts["friend_owners"] = _rowcount(
        session.execute(delete(FriendOwner).where(FriendOwner.friend_id.in_(ids)))
    )
    counts["note_texts_in_audit"] = _erase_note_texts(session, person.shop_id, ids)
    counts["link_nonces"] = _rowcount(
        session.execute(delete(LinkNonce).where(LinkNonce.line_user_id.in_(user_ids)))
    )
    counts["verification_throttles"] = _rowcount(
        session.execute(
            delete(VerificationThrottle).where(
                VerificationThrottle.shop_id == person.shop_id,
                VerificationThrottle.subject.in_([line_subject(u) for u in user_ids]),
            )
        )
    )
    return counts


# What staff wrote about a friend is theirs to erase too: the notes' texts kept in the audit log.
NOTE_TEXTS = ("body", "before")


def _erase_note_texts(session: Session, shop_id: int, friend_ids: list[int]) -> int:
    """Replace the note texts that the audit log keeps about these friends; how many entries."""
    entries = session.scalars(
        select(AuditLog).where(
            AuditLog.shop_id == shop_id,
            AuditLog.subject_type == "friend",
            AuditLog.subject_id.in_([str(i) for i in friend_ids]),
            AuditLog.action.startswith("friend.note_"),
        )
    )
    erased = 0
    for entry in entries:
        if any(key in entry.detail for key in NOTE_TEXTS):
            entry.detail = {
                key: "(erased)" if key in NOTE_TEXTS else value
                for key, value in entry.detail.items()
            }
            erased += 1
    return erased


def _erase_member_rows(session: Session, person: Person, now: datetime) -> Counter[str]:
    counts: Counter[str] = Counter()
    members = [m for m in person.members if m.member_number != erased_marker("member", m.id)]
    ids = [m.id for m in members]
    if not ids:
        return counts
    numbers = [m.member_number for m in members]
    for member in members:
        member.member_number = erased_marker("member", member.id)
        member.name = member.email = member.phone = member.birth_date = None
        member.email_index = member.phone_index = member.pin_hash = None
        member.attributes = {}
    counts["members"] = len(ids)
    counts["member_links_ended"] = _rowcount(
        session.execute(
            update(MemberLink)
            .where(MemberLink.member_id.in_(ids), MemberLink.unlinked_at.is_(None))
            .values(unlinked_at=now, unlinked_by="privacy", unlink_reason="erased")
        )
    )
    counts["link_codes"] = _rowcount(
        session.execute(delete(LinkCode).where(LinkCode.member_id.in_(ids)))
    )
    counts["link_nonces"] += _rowcount(
        session.execute(delete(LinkNonce).where(LinkNonce.member_id.in_(ids)))
    )
    counts["verification_throttles"] += _rowcount(
        session.execute(
            delete(VerificationThrottle).where(
                VerificationThrottle.shop_id == person.shop_id,
                VerificationThrottle.subject.in_([member_subject(n) for n in numbers]),
            )
        )
    )
    return counts


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


def _replace_actor(session: Session, shop_id: int, user_id: str, friend_id: int) -> int:
    marker = erased_marker("friend", friend_id)
    changed = 0
    for column in (
        AuditLog.actor,
        MemberLink.linked_by,
        MemberLink.unlinked_by,
        ConsentRecord.recorded_by,
    ):
        model = column.class_
        changed += _rowcount(
            session.execute(
                update(model)
                .where(model.shop_id == shop_id, column.contains(user_id, autoescape=True))
                .values({column.key: func.replace(column, user_id, marker)})
            )
        )
    return changed


def _rowcount(result: Any) -> int:
    return int(result.rowcount or 0)


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
