"""Purchases and bookings from any source attach to the right member, on strong keys only,
and stale or duplicate versions change nothing."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from commerce import service
from commerce.models import Booking, Connection, Purchase
from commerce.service import Outcome
from commerce.sync import refresh_statistics
from connectors.records import (
    BookingRecord,
    BookingStatus,
    Contact,
    CustomerRecord,
    PurchaseItemRecord,
    PurchaseRecord,
)
from core.db import Database
from core.tenancy import Shop
from idlink import members
from idlink.identities import IdentityReview, MatchStatus
from idlink.members import MemberFields

T0 = datetime(2026, 11, 1, 10, 0, tzinfo=UTC)


@pytest.fixture
def session(db: Database) -> Iterator[Session]:
    with db.session_scope() as session:
        yield session


@pytest.fixture
def connection(session: Session, shop: Shop) -> Connection:
    connection = Connection(
        shop_id=shop.id, kind="shopify", name="store", credentials=json.dumps({}), options={}
    )
    session.add(connection)
    session.flush()
    return connection


def add_member(session: Session, shop: Shop, number: str, **fields: Any) -> int:
    member = members.create_member(
        session,
        shop_id=shop.id,
        member_number=number,
        fields=MemberFields(**fields),
        actor="test",
    )
    return member.id


def order(
    external_id: str, contact: Contact, *, updated: datetime = T0, **extra: Any
) -> PurchaseRecord:
    options: dict[str, Any] = {
        "name": f"#{external_id}",
        "created_at": T0,
        "updated_at": updated,
        "currency": "JPY",
        "total": Decimal("5500"),
        "contact": contact,
        "items": (PurchaseItemRecord("li1", "Shampoo", 2, Decimal("2750"), sku="SH-1"),),
    }
    return PurchaseRecord(external_id=external_id, **(options | extra))


def stored_purchase(session: Session, external_id: str) -> Purchase:
    return session.scalars(select(Purchase).where(Purchase.external_id == external_id)).one()


def test_order_attaches_to_the_member_with_the_same_email_whatever_its_case(
    session: Session, shop: Shop, connection: Connection
) -> None:
    member_id = add_member(session, shop, "M-1", email="hanako@example.jp")

    service.apply_record(
        session, connection=connection, record=order("1001", Contact(email=" Hanako@Example.JP "))
    )

    assert stored_purchase(session, "1001").member_id == member_id


def test_order_attaches_by_phone_written_nationally_or_in_e164(
    session: Session, shop: Shop, connection: Connection
) -> None:
    member_id = add_member(session, shop, "M-2", phone="090-1234-5678")

    service.apply_record(
        session, connection=connection, record=order("1002", Contact(phone="+81 90 1234 5678"))
    )

    assert stored_purchase(session, "1002").member_id == member_id


def test_order_attaches_by_member_number(
    session: Session, shop: Shop, connection: Connection
) -> None:
    member_id = add_member(session, shop, "M-3")
    service.apply_record(
        session, connection=connection, record=order("1003", Contact(member_number="M-3"))
    )
    assert stored_purchase(session, "1003").member_id == member_id


def test_names_alone_never_attach_an_order(
    session: Session, shop: Shop, connection: Connection
) -> None:
    add_member(session, shop, "M-4", name="山田 太郎")
    service.apply_record(
        session, connection=connection, record=order("1004", Contact(name="山田 太郎"))
    )
    assert stored_purchase(session, "1004").member_id is None


def test_keys_matching_two_members_attach_nothing_and_go_to_review(
    session: Session, shop: Shop, connection: Connection
) -> None:
    first = add_member(session, shop, "M-5", email="a@example.jp")
    second = add_member(session, shop, "M-6", phone="080-0000-1111")
    customer = CustomerRecord(
        external_id="C-1",
        updated_at=T0,
        contact=Contact(email="a@example.jp", phone="08000001111"),
    )

    service.apply_record(session, connection=connection, record=customer)
    service.apply_record(
        session,
        connection=connection,
        record=order("1005", Contact(), customer_external_id="C-1"),
    )

    assert stored_purchase(session, "1005").member_id is None
    review = session.scalars(select(IdentityReview)).one()
    assert review.candidate_member_ids == sorted([first, second])


def test_past_orders_attach_when_the_member_appears_later(
    session: Session, shop: Shop, connection: Connection
) -> None:
    service.apply_record(
        session, connection=connection, record=order("1006", Contact(email="late@example.jp"))
    )
    assert stored_purchase(session, "1006").member_id is None

    member_id = add_member(session, shop, "M-7", email="late@example.jp")
    changed = service.reresolve(session, shop_id=shop.id)

    assert changed == 1
    assert stored_purchase(session, "1006").member_id == member_id


def test_an_older_version_of_an_order_changes_nothing(
    session: Session, connection: Connection
) -> None:
    newer = order("1007", Contact(), updated=T0 + timedelta(hours=1), financial_status="refunded")
    older = order("1007", Contact(), updated=T0, financial_status="paid")

    assert service.apply_record(session, connection=connection, record=newer) == Outcome.CREATED
    assert service.apply_record(session, connection=connection, record=older) == Outcome.STALE
    assert service.apply_record(session, connection=connection, record=newer) == Outcome.UNCHANGED
    assert stored_purchase(session, "1007").financial_status == "refunded"


def test_a_cancelled_order_update_replaces_its_lines_and_state(
    session: Session, connection: Connection
) -> None:
    service.apply_record(session, connection=connection, record=order("1008", Contact()))
    cancelled = order(
        "1008",
        Contact(),
        updated=T0 + timedelta(minutes=5),
        cancelled_at=T0 + timedelta(minutes=5),
        items=(PurchaseItemRecord("li9", "Conditioner", 1, Decimal("3000")),),
    )

    assert service.apply_record(session, connection=connection, record=cancelled) == "updated"

    purchase = stored_purchase(session, "1008")
    assert purchase.cancelled_at is not None
    assert [(i.title, i.quantity) for i in purchase.items] == [("Conditioner", 1)]


def booking(external_id: str, version: int, start: datetime, **extra: Any) -> BookingRecord:
    options: dict[str, Any] = {
        "status": BookingStatus.CONFIRMED,
        "start_at": start,
        "end_at": start + timedelta(hours=1),
        "updated_at": T0,
        "contact": Contact(email="guest@example.jp"),
        "service": "Cut",
    }
    return BookingRecord(external_id=external_id, version=version, **(options | extra))


def test_bookings_apply_only_newer_versions_whatever_the_arrival_order(
    session: Session, connection: Connection
) -> None:
    v2 = booking("B-1", 2, T0 + timedelta(days=2))
    v1 = booking("B-1", 1, T0 + timedelta(days=1))

    service.apply_record(session, connection=connection, record=v2)
    assert service.apply_record(session, connection=connection, record=v1) == Outcome.STALE

    stored = session.scalars(select(Booking).where(Booking.external_id == "B-1")).one()
    assert stored.start_at == T0 + timedelta(days=2)


def test_a_reschedule_to_a_new_booking_supersedes_the_old_one(
    session: Session, connection: Connection
) -> None:
    service.apply_record(session, connection=connection, record=booking("B-2", 1, T0))
    moved = booking("B-3", 1, T0 + timedelta(days=3), previous_external_id="B-2")

    service.apply_record(session, connection=connection, record=moved)

    old, new = (
        session.scalars(select(Booking).where(Booking.external_id == x)).one()
        for x in ("B-2", "B-3")
    )
    assert old.status == BookingStatus.RESCHEDULED
    assert old.superseded_by_id == new.id


def test_customer_identity_keeps_only_normalised_keys_encrypted(
    session: Session, connection: Connection, db: Database
) -> None:
    record = CustomerRecord(
        external_id="C-9", updated_at=T0, contact=Contact(email="Secret@Example.JP")
    )
    service.apply_record(session, connection=connection, record=record)
    session.flush()

    raw = session.connection().exec_driver_sql("SELECT email, status FROM external_identities")
    email_column, status = raw.one()
    assert "secret@example.jp" not in email_column
    assert status == MatchStatus.UNMATCHED


def test_a_customer_deleted_at_the_source_detaches_its_orders_from_the_member(
    session: Session, shop: Shop, connection: Connection
) -> None:
    add_member(session, shop, "M-8", email="gone@example.jp")
    customer = CustomerRecord(
        external_id="C-8", updated_at=T0, contact=Contact(email="gone@example.jp")
    )
    service.apply_record(session, connection=connection, record=customer)
    service.apply_record(
        session, connection=connection, record=order("1009", Contact(), customer_external_id="C-8")
    )
    assert stored_purchase(session, "1009").member_id is not None

    deleted = CustomerRecord(
        external_id="C-8", updated_at=T0 + timedelta(days=1), contact=customer.contact, deleted=True
    )
    service.apply_record(session, connection=connection, record=deleted)

    assert stored_purchase(session, "1009").member_id is None


def test_a_sync_that_outgrows_the_planner_statistics_refreshes_them(
    db: Database, shop: Shop
) -> None:
    with db.session_scope() as session:
        store = Connection(
            shop_id=shop.id, kind="shopify", name="store", credentials="{}", options={}
        )
        session.add(store)
        session.flush()
        service.apply_record(session, connection=store, record=order("2001", Contact()))

    refresh_statistics(db)

    with db.engine.connect() as connection:
        if db.is_sqlite:
            analysed = connection.exec_driver_sql("SELECT tbl FROM sqlite_stat1").scalars()
        else:
            analysed = connection.exec_driver_sql(
                "SELECT relname FROM pg_stat_user_tables WHERE last_analyze IS NOT NULL"
            ).scalars()
        assert {"purchases", "purchase_items"} <= set(analysed)
