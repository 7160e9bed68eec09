"""Upserting connector records into purchases, bookings and identities — idempotently.

Every record is keyed by (connection, external id). A record older than what is stored (a late
webhook, an out-of-order retry, an overlapping sync window) changes nothing.
"""

from __future__ import annotations

import enum
import json
from datetime import datetime
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.orm import Session

from commerce.coupons import redemption
from commerce.models import (
    Booking,
    Connection,
    ProductGroup,
    ProductGroupMember,
    Purchase,
    PurchaseItem,
)
from connectors.records import (
    BookingRecord,
    BookingStatus,
    Contact,
    CustomerRecord,
    ProductGroupRecord,
    ProductGroupsSeen,
    PurchaseRecord,
    Record,
)
from core.clock import utcnow
from core.db import rows_matched
from idlink import identities
from idlink.identities import ExternalIdentity


class Outcome(enum.StrEnum):
    CREATED = "created"
    UPDATED = "updated"
    UNCHANGED = "unchanged"
    STALE = "stale"


def connection_secrets(connection: Connection) -> dict[str, Any]:
    """The connection's decrypted credentials document."""
    return json.loads(connection.credentials)


def apply_record(
    session: Session, *, connection: Connection, record: Record, now: datetime | None = None
) -> Outcome:
    """Store one record of any kind."""
    match record:
        case PurchaseRecord():
            return upsert_purchase(session, connection=connection, record=record, now=now)
        case BookingRecord():
            return upsert_booking(session, connection=connection, record=record, now=now)
        case CustomerRecord():
            return upsert_customer(session, connection=connection, record=record, now=now)
        case ProductGroupRecord():
            return upsert_product_group(session, connection=connection, record=record)
        case ProductGroupsSeen():
            return forget_product_groups(session, connection=connection, seen=record)


def upsert_product_group(
    session: Session, *, connection: Connection, record: ProductGroupRecord
) -> Outcome:
    """Store a product group and its members as the store has them now."""
    group = session.scalar(
        select(ProductGroup).where(
            ProductGroup.connection_id == connection.id,
            ProductGroup.external_id == record.external_id,
        )
    )
    members = set(record.product_ids)
    if group is None:
        group = ProductGroup(
            shop_id=connection.shop_id,
            connection_id=connection.id,
            external_id=record.external_id,
            handle=record.handle,
            title=record.title,
            updated_at=record.updated_at,
        )
        session.add(group)
        session.flush()
        outcome = Outcome.CREATED
    else:
        stored = set(
            session.scalars(
                select(ProductGroupMember.product_id).where(ProductGroupMember.group_id == group.id)
            )
        )
        if (group.handle, group.title, stored) == (record.handle, record.title, members):
            return Outcome.UNCHANGED
        group.handle, group.title, group.updated_at = record.handle, record.title, record.updated_at
        session.execute(delete(ProductGroupMember).where(ProductGroupMember.group_id == group.id))
        outcome = Outcome.UPDATED
    if members:
        session.execute(
            insert(ProductGroupMember),
            [{"group_id": group.id, "product_id": product} for product in sorted(members)],
        )
    return outcome


def forget_product_groups(
    session: Session, *, connection: Connection, seen: ProductGroupsSeen
) -> Outcome:
    """Delete the connection's groups a full read of the store no longer found."""
    gone = rows_matched(
        session.execute(
            delete(ProductGroup)
            .where(
                ProductGroup.connection_id == connection.id,
                ProductGroup.external_id.not_in(seen.external_ids),
            )
            .execution_options(synchronize_session=False)
        )
    )
    return Outcome.UPDATED if gone else Outcome.UNCHANGED


def _identity(
    session: Session,
    connection: Connection,
    external_id: str,
    record_contact: Any,
    updated_at: datetime | None,
    now: datetime | None,
) -> ExternalIdentity:
    return identities.upsert_identity(
        session,
        shop_id=connection.shop_id,
        connection_id=connection.id,
        external_id=external_id,
        contact=record_contact,
        updated_at=updated_at,
        now=now,
    )


def upsert_customer(
    session: Session,
    *,
    connection: Connection,
    record: CustomerRecord,
    now: datetime | None = None,
) -> Outcome:
    """A customer/contact: recorded as an external identity and resolved to a member."""
    existing = session.scalar(
        select(ExternalIdentity).where(
            ExternalIdentity.connection_id == connection.id,
            ExternalIdentity.external_id == record.external_id,
        )
    )
    if existing is not None and existing.source_updated_at is not None:
        if record.updated_at < existing.source_updated_at:
            return Outcome.STALE
        if record.updated_at == existing.source_updated_at:
            return Outcome.UNCHANGED
    # A customer deleted at the source keeps no keys here: it resolves to no member, and the
    # purchases and bookings that came through it are detached from the member.
    contact = Contact() if record.deleted else record.contact
    identity = _identity(session, connection, record.external_id, contact, record.updated_at, now)
    if existing is not None:
        _attach_member(session, [identity])
    return Outcome.CREATED if existing is None else Outcome.UPDATED


def _buyer(
    session: Session, connection: Connection, record: PurchaseRecord | BookingRecord, now: Any
) -> tuple[int | None, int | None]:
    """(identity id, member id) of a purchase's or booking's customer.

    A buyer known only by the keys on the record itself (a guest checkout, a booking form) gets
    an identity of its own, so that it is re-resolved when a matching member appears later.
    """
    kind = "purchase" if isinstance(record, PurchaseRecord) else "booking"
    external_id = record.customer_external_id or f"{kind}:{record.external_id}"
    if record.customer_external_id is None and record.contact.is_empty:
        return None, None
    identity = session.scalar(
        select(ExternalIdentity).where(
            ExternalIdentity.connection_id == connection.id,
            ExternalIdentity.external_id == external_id,
        )
    )
    if identity is None or record.customer_external_id is None:
        identity = _identity(session, connection, external_id, record.contact, None, now)
    if identity.member_id is not None or record.contact.is_empty:
        return identity.id, identity.member_id
    # Keys on the record (a LINE user id in order note attributes) may resolve a buyer whose
    # customer record alone did not.
    resolved = identities.resolve(session, shop_id=connection.shop_id, contact=record.contact)
    return identity.id, resolved.member_id


def upsert_purchase(
    session: Session,
    *,
    connection: Connection,
    record: PurchaseRecord,
    now: datetime | None = None,
) -> Outcome:
    """An order with its lines; cancellations and refunds update it in place."""
    purchase = session.scalar(
        select(Purchase).where(
            Purchase.connection_id == connection.id, Purchase.external_id == record.external_id
        )
    )
    if purchase is not None:
        if record.updated_at < purchase.source_updated_at:
            return Outcome.STALE
        if record.updated_at == purchase.source_updated_at:
            return Outcome.UNCHANGED
    identity_id, member_id = _buyer(session, connection, record, now)
    outcome = Outcome.UPDATED
    if purchase is None:
        purchase = Purchase(
            shop_id=connection.shop_id,
            connection_id=connection.id,
            external_id=record.external_id,
        )
        session.add(purchase)
        outcome = Outcome.CREATED
    purchase.name = record.name
    purchase.identity_id = identity_id
    purchase.member_id = member_id
    purchase.currency = record.currency
    purchase.total = record.total
    purchase.refunded_total = record.refunded_total
    purchase.financial_status = record.financial_status
    purchase.discount_codes = list(record.discount_codes)
    purchase.test = record.test
    purchase.ordered_at = record.created_at
    purchase.source_updated_at = record.updated_at
    purchase.cancelled_at = record.cancelled_at
    purchase.updated_at = now or utcnow()
    purchase.items = [
        PurchaseItem(
            external_id=item.external_id,
            title=item.title,
            quantity=item.quantity,
            price=item.price,
            sku=item.sku,
            product_id=item.product_id,
            variant_id=item.variant_id,
        )
        for item in record.items
    ]
    session.flush()
    redemption.match(
        session,
        shop_id=connection.shop_id,
        orders=[(purchase.id, purchase.discount_codes, purchase.ordered_at)],
    )
    return outcome


def _is_newer(booking: Booking, record: BookingRecord) -> bool | None:
    """True newer, False older, None the same version."""
    if record.version is not None and booking.version is not None:
        if record.version == booking.version:
            return None
        return record.version > booking.version
    if record.updated_at == booking.source_updated_at:
        return None
    return record.updated_at > booking.source_updated_at


def upsert_booking(
    session: Session,
    *,
    connection: Connection,
    record: BookingRecord,
    now: datetime | None = None,
) -> Outcome:
    """A booking; only a newer version applies. A reschedule to a new id supersedes the old."""
    booking = session.scalar(
        select(Booking).where(
            Booking.connection_id == connection.id, Booking.external_id == record.external_id
        )
    )
    if booking is not None:
        newer = _is_newer(booking, record)
        if newer is None:
            return Outcome.UNCHANGED
        if not newer:
            return Outcome.STALE
    identity_id, member_id = _buyer(session, connection, record, now)
    outcome = Outcome.UPDATED
    if booking is None:
        booking = Booking(
            shop_id=connection.shop_id,
            connection_id=connection.id,
            external_id=record.external_id,
        )
        session.add(booking)
        outcome = Outcome.CREATED
    booking.identity_id = identity_id
    booking.member_id = member_id
    booking.status = BookingStatus.CANCELLED if record.deleted else record.status
    booking.start_at = record.start_at
    booking.end_at = record.end_at
    booking.timezone = record.timezone
    booking.service = record.service
    booking.staff = record.staff
    booking.location = record.location
    booking.version = record.version
    booking.source_updated_at = record.updated_at
    booking.updated_at = now or utcnow()
    session.flush()
    if record.previous_external_id and record.previous_external_id != record.external_id:
        _supersede(session, connection, record.previous_external_id, booking)
    return outcome


def _supersede(session: Session, connection: Connection, old_id: str, new: Booking) -> None:
    old = session.scalar(
        select(Booking).where(Booking.connection_id == connection.id, Booking.external_id == old_id)
    )
    if old is not None and old.superseded_by_id is None:
        old.superseded_by_id = new.id
        old.status = BookingStatus.RESCHEDULED


def _attach_member(session: Session, changed: list[ExternalIdentity]) -> None:
    """Point the purchases and bookings of re-resolved identities at their (new) member."""
    for identity in changed:
        for model in (Purchase, Booking):
            session.execute(
                update(model)
                .where(model.identity_id == identity.id)
                .values(member_id=identity.member_id)
            )


def reresolve(session: Session, *, shop_id: int, now: datetime | None = None) -> int:
    """Re-resolve unmatched identities (after members were added or friends linked) and attach
    their past purchases and bookings to the member they now resolve to."""
    changed = identities.reresolve_unmatched(session, shop_id=shop_id, now=now or utcnow())
    _attach_member(session, changed)
    return len(changed)
