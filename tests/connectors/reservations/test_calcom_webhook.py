"""Cal.com booking webhooks over HTTP: signature, dedup without an event id, and the booking
lifecycle (requested, created, rescheduled into a new uid, cancelled, rejected)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from core.db import Database
from core.tenancy import Shop
from sandbox.reservations.sender import WebhookSender
from sandbox.reservations.systems import CalcomAccount
from tests.connectors.reservations.conftest import (
    Endpoint,
    add_member,
    booking,
    stored_events,
    wait_for_booking,
    wait_until_processed,
)

SLOT: dict[str, Any] = {"start": "2026-12-01T01:00:00.000Z", "end": "2026-12-01T02:00:00.000Z"}


def test_signed_booking_created_is_attached_to_the_member_by_email(
    db: Database, shop: Shop, calcom: Endpoint, sender: WebhookSender
) -> None:
    member_id = add_member(db, shop, "M-300", email="aiko@example.jp")
    account = CalcomAccount()
    document = account.create(name="Aiko", email="AIKO@example.jp", **SLOT)

    delivery = sender.send_calcom(calcom.url, document, secret=calcom.secrets[0])

    assert delivery.status == 200
    uid = document["payload"]["uid"]
    stored = wait_for_booking(db, calcom, uid, member_id=member_id)
    assert stored.status == "confirmed"
    assert stored.start_at == datetime(2026, 12, 1, 1, 0, tzinfo=UTC)
    assert (stored.service, stored.staff, stored.timezone) == ("Cut", "Sato", "Asia/Tokyo")


def test_unsigned_calcom_webhook_is_refused_and_stores_nothing(
    db: Database, calcom: Endpoint, sender: WebhookSender
) -> None:
    document = CalcomAccount().create(name="Aiko", email="aiko@example.jp", **SLOT)

    unsigned = sender.send_calcom(calcom.url, document, secret=None)
    wrong = sender.send_calcom(calcom.url, document, secret="someone-else")

    assert (unsigned.status, wrong.status) == (401, 401)
    assert isinstance(unsigned.response, dict)
    assert "unsigned" in unsigned.response["detail"]
    assert stored_events(db, calcom) == []


def test_redelivered_calcom_webhook_is_stored_once(
    db: Database, calcom: Endpoint, sender: WebhookSender
) -> None:
    document = CalcomAccount().create(name="Aiko", email="aiko@example.jp", **SLOT)

    first = sender.send_calcom(calcom.url, document, secret=calcom.secrets[0])
    again = sender.send_calcom(calcom.url, document, secret=calcom.secrets[0])

    assert first.response == {"received": 1, "stored": 1}
    assert again.response == {"received": 1, "stored": 0}


def test_reschedule_creates_the_new_booking_and_supersedes_the_old_uid(
    db: Database, calcom: Endpoint, sender: WebhookSender
) -> None:
    account = CalcomAccount()
    created = account.create(name="Aiko", email="aiko@example.jp", **SLOT)
    old_uid = created["payload"]["uid"]
    sender.send_calcom(calcom.url, created, secret=calcom.secrets[0])
    wait_for_booking(db, calcom, old_uid)

    moved = account.reschedule(
        old_uid, start="2026-12-03T05:00:00.000Z", end="2026-12-03T06:00:00.000Z"
    )
    sender.send_calcom(calcom.url, moved, secret=calcom.secrets[0])

    new = wait_for_booking(db, calcom, moved["payload"]["uid"], status="confirmed")
    assert new.start_at == datetime(2026, 12, 3, 5, 0, tzinfo=UTC)
    old = wait_for_booking(db, calcom, old_uid, status="rescheduled")
    assert old.superseded_by_id == new.id


def test_cancellation_arriving_before_the_creation_leaves_the_booking_cancelled(
    db: Database, calcom: Endpoint, sender: WebhookSender
) -> None:
    account = CalcomAccount()
    created = account.create(name="Aiko", email="aiko@example.jp", **SLOT)
    uid = created["payload"]["uid"]
    cancelled = account.cancel(uid)

    sender.send_calcom(calcom.url, cancelled, secret=calcom.secrets[0])
    wait_for_booking(db, calcom, uid, status="cancelled")
    sender.send_calcom(calcom.url, created, secret=calcom.secrets[0])
    wait_until_processed(db, calcom, 2)

    stored = booking(db, calcom, uid)
    assert stored is not None and stored.status == "cancelled"


def test_requested_booking_is_pending_until_the_organizer_rejects_it(
    db: Database, calcom: Endpoint, sender: WebhookSender
) -> None:
    account = CalcomAccount()
    requested = account.create(
        name="Aiko", email="aiko@example.jp", requires_confirmation=True, **SLOT
    )
    uid = requested["payload"]["uid"]

    sender.send_calcom(calcom.url, requested, secret=calcom.secrets[0])
    wait_for_booking(db, calcom, uid, status="pending")
    sender.send_calcom(calcom.url, account.reject(uid), secret=calcom.secrets[0])

    wait_for_booking(db, calcom, uid, status="rejected")


def test_member_number_and_phone_from_the_booking_form_attach_the_booking(
    db: Database, shop: Shop, calcom: Endpoint, sender: WebhookSender
) -> None:
    by_number = add_member(db, shop, "M-301")
    by_phone = add_member(db, shop, "M-302", phone="+81 80-1111-2222")
    account = CalcomAccount()
    with_number = account.create(
        name="A", email="a@example.jp", responses={"memberNumber": "M-301"}, **SLOT
    )
    with_phone = account.create(name="B", email="b@example.jp", phone="080-1111-2222", **SLOT)

    sender.send_calcom(calcom.url, with_number, secret=calcom.secrets[0])
    sender.send_calcom(calcom.url, with_phone, secret=calcom.secrets[0])

    wait_for_booking(db, calcom, with_number["payload"]["uid"], member_id=by_number)
    wait_for_booking(db, calcom, with_phone["payload"]["uid"], member_id=by_phone)
