"""Export of one person (Shopify ``customers/data_request``, APPI 開示): everything the hub
holds on them, as one JSON document and one CSV file per kind of record, in a zip archive."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from commerce.models import Booking, Purchase
from core import audit, csvfile
from core.audit import AuditLog
from core.clock import utcnow
from core.inbox import InboundEvent
from crm.models import FieldDefinition, FriendFieldValue, FriendOwner, Note
from growth.forms.models import FormOpen, FormSubmission
from growth.models import RouteTouch, RouteVisit
from idlink.media.models import Media
from idlink.models import (
    ConversationMessage,
    FriendFollowEvent,
    FriendTag,
    FriendTagEvent,
    MemberLink,
    Tag,
)
from messaging.compose.models import LinkClick, TrackedLink
from messaging.outbox.models import Consent, ConsentRecord, Delivery, DeliveryContent
from messaging.sequences.models import Enrollment
from privacy import people
from privacy.people import Person
from privacy.search import audit_naming, events_naming

# Internal values that say nothing to the person and would only help an attacker.
_LEFT_OUT = frozenset({"pin_hash", "email_index", "phone_index"})


def _plain(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


def _row(obj: Any, **extra: Any) -> dict[str, Any]:
    """A mapped row's columns as JSON-ready values (encrypted ones decrypted)."""
    values = {
        attr.key: _plain(getattr(obj, attr.key))
        for attr in obj.__mapper__.column_attrs
        if attr.key not in _LEFT_OUT
    }
    if "pin_hash" in obj.__mapper__.column_attrs:
        values["has_pin"] = obj.pin_hash is not None
    return values | {k: _plain(v) for k, v in extra.items()}


def collect(session: Session, person: Person) -> dict[str, list[dict[str, Any]]]:
    """Every record about the person, by kind (``friends``, ``members``, ``purchases`` …)."""
    friend_ids, member_ids, identity_ids = person.friend_ids, person.member_ids, person.identity_ids
    tags: dict[int, list[str]] = {}
    for friend_id, name in session.execute(
        select(FriendTag.friend_id, Tag.name)
        .join(Tag, Tag.id == FriendTag.tag_id)
        .where(FriendTag.friend_id.in_(friend_ids))
        .order_by(Tag.name)
    ):
        tags.setdefault(friend_id, []).append(name)
    owns = or_(Purchase.member_id.in_(member_ids), Purchase.identity_id.in_(identity_ids))
    books = or_(Booking.member_id.in_(member_ids), Booking.identity_id.in_(identity_ids))
    deliveries = session.execute(
        select(Delivery, DeliveryContent.payload)
        .join(DeliveryContent, DeliveryContent.content_hash == Delivery.content_hash)
        .where(Delivery.friend_id.in_(friend_ids))
        .order_by(Delivery.id)
    ).all()
    links = session.execute(
        select(TrackedLink, func.count(LinkClick.id))
        .outerjoin(LinkClick, LinkClick.code == TrackedLink.code)
        .where(TrackedLink.friend_id.in_(friend_ids))
        .group_by(TrackedLink.code)
        .order_by(TrackedLink.created_at)
    ).all()
    needles = person.needles()
    event_ids = [event_id for event_id, _ in events_naming(session, person, needles)]
    audit_ids = set(audit_naming(session, person.shop_id, needles))
    audit_rows = session.scalars(
        select(AuditLog)
        .where(
            AuditLog.shop_id == person.shop_id,
            or_(
                AuditLog.id.in_(audit_ids),
                (AuditLog.subject_type == "friend")
                & AuditLog.subject_id.in_([str(i) for i in friend_ids]),
                (AuditLog.subject_type == "member")
                & AuditLog.subject_id.in_([str(i) for i in member_ids]),
            ),
        )
        .order_by(AuditLog.id)
    )
    return {
        "friends": [_row(f, tags=tags.get(f.id, [])) for f in person.friends],
        "members": [_row(m) for m in person.members],
        "member_links": _rows(
            session,
            select(MemberLink)
            .where(or_(MemberLink.friend_id.in_(friend_ids), MemberLink.member_id.in_(member_ids)))
            .order_by(MemberLink.id),
        ),
        "identities": [_row(i) for i in person.identities],
        "purchases": [
            _row(p, items=[_row(item) for item in p.items])
            for p in session.scalars(select(Purchase).where(owns).order_by(Purchase.ordered_at))
        ],
        "bookings": _rows(session, select(Booking).where(books).order_by(Booking.start_at)),
        "conversation_messages": _rows(
            session,
            select(ConversationMessage)
            .where(ConversationMessage.friend_id.in_(friend_ids))
            .order_by(ConversationMessage.occurred_at),
        ),
        # What was sent and what became of it; the content itself is served to staff only.
        "media": [
            _row(m, location=None, public_token=None)
            for m in session.scalars(
                select(Media).where(Media.friend_id.in_(friend_ids)).order_by(Media.occurred_at)
            )
        ],
        "deliveries": [_row(d, messages=payload) for d, payload in deliveries],
        "tracked_links": [_row(link, click_count=count) for link, count in links],
        "enrollments": _rows(
            session,
            select(Enrollment).where(Enrollment.friend_id.in_(friend_ids)).order_by(Enrollment.id),
        ),
        "follow_history": _rows(
            session,
            select(FriendFollowEvent)
            .where(FriendFollowEvent.friend_id.in_(friend_ids))
            .order_by(FriendFollowEvent.id),
        ),
        "follow_route_visits": _rows(
            session,
            select(RouteVisit)
            .where(
                RouteVisit.shop_id == person.shop_id,
                RouteVisit.line_user_id.in_([f.line_user_id for f in person.friends]),
            )
            .order_by(RouteVisit.id),
        ),
        "follow_route_touches": _rows(
            session,
            select(RouteTouch).where(RouteTouch.friend_id.in_(friend_ids)).order_by(RouteTouch.id),
        ),
        "form_opens": _rows(
            session,
            select(FormOpen)
            .where(
                FormOpen.shop_id == person.shop_id,
                FormOpen.line_user_id.in_([f.line_user_id for f in person.friends]),
            )
            .order_by(FormOpen.id),
        ),
        "form_submissions": _rows(
            session,
            select(FormSubmission)
            .where(FormSubmission.friend_id.in_(friend_ids))
            .order_by(FormSubmission.id),
        ),
        "tag_history": _rows(
            session,
            select(FriendTagEvent)
            .where(FriendTagEvent.friend_id.in_(friend_ids))
            .order_by(FriendTagEvent.id),
        ),
        "fields": [
            _row(value, field=key, label=label)
            for value, key, label in session.execute(
                select(FriendFieldValue, FieldDefinition.key, FieldDefinition.label)
                .join(FieldDefinition, FieldDefinition.id == FriendFieldValue.field_id)
                .where(FriendFieldValue.friend_id.in_(friend_ids))
                .order_by(FriendFieldValue.id)
            )
        ],
        "owners": _rows(session, select(FriendOwner).where(FriendOwner.friend_id.in_(friend_ids))),
        "notes": _rows(
            session, select(Note).where(Note.friend_id.in_(friend_ids)).order_by(Note.id)
        ),
        "consents": _rows(session, select(Consent).where(Consent.friend_id.in_(friend_ids))),
        "consent_records": _rows(
            session,
            select(ConsentRecord)
            .where(ConsentRecord.friend_id.in_(friend_ids))
            .order_by(ConsentRecord.id),
        ),
        "inbound_events": _rows(
            session,
            select(InboundEvent).where(InboundEvent.id.in_(event_ids)).order_by(InboundEvent.id),
        ),
        "audit_log": [_row(entry) for entry in audit_rows],
    }


def _rows(session: Session, query: Any) -> list[dict[str, Any]]:
    return [_row(obj) for obj in session.scalars(query)]


def archive(records: dict[str, list[dict[str, Any]]], *, exported_at: datetime) -> bytes:
    """``person.json`` with every record, and ``<kind>.csv`` for each kind that has any."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as zipped:
        document = {"exported_at": exported_at.isoformat(), **records}
        zipped.writestr(
            "person.json", json.dumps(document, ensure_ascii=False, indent=2, default=str)
        )
        for kind, rows in records.items():
            if rows:
                zipped.writestr(f"{kind}.csv", csvfile.write_rows(rows, _columns(rows)))
    return buffer.getvalue()


def _columns(rows: Sequence[dict[str, Any]]) -> list[str]:
    columns: dict[str, None] = {}
    for row in rows:
        columns.update(dict.fromkeys(row))
    return list(columns)


def export(
    session: Session,
    *,
    person: Person,
    actor: str,
    subject_type: str,
    subject_id: object,
    now: datetime | None = None,
    ip: str | None = None,
) -> bytes:
    """The person's archive; the export is audited with what it held, by count (and the
    address it went to, when a browser asked)."""
    now = now or utcnow()
    records = collect(session, person)
    audit.record(
        session,
        shop_id=person.shop_id,
        actor=actor,
        action="privacy.exported",
        subject_type=subject_type,
        subject_id=subject_id,
        now=now,
        counts={kind: len(rows) for kind, rows in records.items() if rows},
        **({"ip": ip} if ip else {}),
    )
    return archive(records, exported_at=now)


def export_friend(
    session: Session, *, shop_id: int, friend_id: int, actor: str, ip: str | None = None
) -> bytes:
    """Everything held on the person behind a friend (and its linked members)."""
    person = people.of_friend(session, shop_id=shop_id, friend_id=friend_id)
    return export(
        session, person=person, actor=actor, subject_type="friend", subject_id=friend_id, ip=ip
    )


def export_member(session: Session, *, shop_id: int, member_id: int, actor: str) -> bytes:
    """Everything held on the person behind a member (and its linked friends)."""
    person = people.of_member(session, shop_id=shop_id, member_id=member_id)
    return export(session, person=person, actor=actor, subject_type="member", subject_id=member_id)
