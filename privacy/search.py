"""Finding where a person is named in free-form data: stored webhooks (by a value that
identifies them, or by their orders and customer ids) and audit details. Erasure clears what
this finds; export hands it over."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from commerce.models import Booking, Purchase
from core.audit import AuditLog
from core.inbox import InboundEvent
from privacy.people import Person

ERASED_PAYLOAD: dict[str, Any] = {"erased": True}
SCAN_CHUNK = 1000


def mentions(value: Any, needles: Iterable[str]) -> bool:
    """True when any needle appears in the value's text (JSON as written, case-folded)."""
    if value is None:
        return False
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    folded = text.casefold()
    return any(needle.casefold() in folded for needle in needles)


def chunks(session: Session, query: Any) -> Iterator[list[Any]]:
    """Rows of ``query`` (ordered by id) a chunk at a time, by keyset: bounded memory."""
    last = 0
    while True:
        rows = list(session.execute(query(last).limit(SCAN_CHUNK)))
        if not rows:
            return
        yield rows
        last = rows[-1][0]


def _order_and_customer_ids(session: Session, person: Person) -> tuple[set[str], set[str]]:
    purchases = select(Purchase.external_id).where(
        Purchase.shop_id == person.shop_id,
        or_(
            Purchase.member_id.in_(person.member_ids),
            Purchase.identity_id.in_(person.identity_ids),
        ),
    )
    bookings = select(Booking.external_id).where(
        Booking.shop_id == person.shop_id,
        or_(
            Booking.member_id.in_(person.member_ids),
            Booking.identity_id.in_(person.identity_ids),
        ),
    )
    orders = set(session.scalars(purchases)) | set(session.scalars(bookings))
    orders |= {
        i.external_id.removeprefix("purchase:")
        for i in person.identities
        if i.external_id.startswith("purchase:")
    }
    customers = {i.external_id for i in person.identities if ":" not in i.external_id}
    return orders, customers


def names_records(payload: Any, orders: set[str], customers: set[str]) -> bool:
    """True when a connector payload is about one of the orders, bookings or customers."""
    if not isinstance(payload, dict):
        return False
    customer = payload.get("customer")
    candidates = [payload.get("id"), payload.get("order_id"), payload.get("uid")]
    if isinstance(customer, dict):
        candidates.append(customer.get("id"))
    for value in candidates:
        if value is None:
            continue
        text = str(value)
        if text in orders or text in customers:
            return True
    return False


def events_naming(
    session: Session, person: Person, needles: set[str], *, keep: int | None = None
) -> list[tuple[int, str]]:
    """(id, status) of the shop's stored events that name the person: by a value that
    identifies them, or (connector events) by one of their orders, bookings or customer ids."""
    orders, customers = _order_and_customer_ids(session, person)
    found: list[tuple[int, str]] = []

    def page(after: int) -> Any:
        return (
            select(InboundEvent.id, InboundEvent.source, InboundEvent.payload, InboundEvent.status)
            .where(InboundEvent.shop_id == person.shop_id, InboundEvent.id > after)
            .order_by(InboundEvent.id)
        )

    for rows in chunks(session, page):
        for event_id, source, payload, status in rows:
            if payload == ERASED_PAYLOAD or event_id == keep:
                continue
            named = source != "line" and names_records(payload, orders, customers)
            if named or mentions(payload, needles):
                found.append((event_id, status))
    return found


def audit_naming(session: Session, shop_id: int, needles: set[str]) -> list[int]:
    """Ids of the shop's audit entries whose details name the person."""
    found: list[int] = []

    def page(after: int) -> Any:
        return (
            select(AuditLog.id, AuditLog.detail)
            .where(AuditLog.shop_id == shop_id, AuditLog.id > after)
            .order_by(AuditLog.id)
        )

    for rows in chunks(session, page):
        found += [entry_id for entry_id, detail in rows if mentions(detail, needles)]
    return found
