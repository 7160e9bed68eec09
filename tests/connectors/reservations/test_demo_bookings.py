"""The demo's bookings reach the hub signed, attach to members, and the reschedule applies."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from core.db import Database
from core.tenancy import Shop
from sandbox.reservations.demo import send_demo_bookings
from sandbox.reservations.systems import Customer
from tests.connectors.reservations.conftest import Endpoint, add_member, wait_for_booking


def test_demo_bookings_are_accepted_attached_and_the_first_one_moved(
    db: Database, shop: Shop, generic: Endpoint
) -> None:
    first = add_member(db, shop, "M-3001", email="one@example.jp")
    second = add_member(db, shop, "M-3002", phone="080-2222-3333")
    today = datetime(2026, 11, 22, 9, 0, tzinfo=ZoneInfo("Asia/Tokyo"))

    deliveries = send_demo_bookings(
        generic.url,
        generic.secrets[0],
        [Customer("c1", email="one@example.jp"), Customer("c2", phone_e164="+818022223333")],
        today=today,
    )

    assert [d.status for d in deliveries] == [200, 200, 200]
    moved = wait_for_booking(db, generic, "bk_1", member_id=first, version=2)
    assert moved.start_at == datetime(2026, 11, 23, 6, 0, tzinfo=UTC)
    wait_for_booking(db, generic, "bk_2", member_id=second)
