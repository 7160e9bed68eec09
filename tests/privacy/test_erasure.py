"""Erasure of one person: after it, no text or JSON column of any table names them."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, update

from commerce.models import Purchase
from core.audit import AuditLog
from core.clock import utcnow
from core.db import Database
from core.inbox import EventStatus, InboundEvent, IncomingEvent, store_events
from core.tenancy import Shop
from idlink.models import Friend, FriendStatus, Member
from messaging.compose.models import TrackedLink
from messaging.outbox.models import Delivery
from privacy.datamap import PERSONAL_COLUMNS
from tests.api.admin_support import admin_api
from tests.factories import make_shop
from tests.privacy.support import EMAIL, PHONE, Journey, find, left_after_erasure
from tests.waiting import wait_for

# Where the journey leaves the person's data: the search must see each before erasure, or it
# would prove nothing after it.
EXPECTED_BEFORE = {
    ("friends", "line_user_id"),
    ("friends", "display_name"),
    ("members", "name"),
    ("members", "email"),
    ("members", "phone"),
    ("external_identities", "email"),
    ("external_identities", "phone"),
    ("inbound_events", "payload"),
    ("conversation_messages", "text"),
    ("conversation_messages", "payload"),
    ("delivery_contents", "payload"),
    ("notes", "body"),
    ("friend_field_values", "text"),
    ("audit_log", "detail"),
}


def test_an_erased_friend_is_found_in_no_column_of_any_table(
    db: Database, hub_url: str, shop: Shop, journey: Journey
) -> None:
    api = admin_api(db, hub_url, shop)
    # Staff noted how to reach them, then edited the note: the audit log keeps the first text.
    notes = f"/friends/{journey.friend_id}/notes"
    note = api.post(notes, {"body": f"連絡先 {EMAIL}"}).json()
    assert api.patch(f"{notes}/{note['id']}", {"body": f"{EMAIL} に連絡済み"}).status_code == 200
    # A custom field the shop keeps per friend, holding how to reach her.
    assert api.put(
        "/fields/contact", {"key": "contact", "label": "連絡先", "type": "text"}
    ).is_success
    field = f"/friends/{journey.friend_id}/fields/contact"
    assert api.put(field, {"value": f"{PHONE} 夜のみ"}).status_code == 200
    before = find(db, journey.needles)
    assert set(before) >= EXPECTED_BEFORE
    assert set(before) <= set(PERSONAL_COLUMNS), "a column holds personal data the map lacks"

    response = api.post(f"/friends/{journey.friend_id}/erase", {})

    assert response.status_code == 200, response.text
    counts = response.json()["erased"]
    assert counts["friends"] == 1 and counts["members"] == 1
    assert counts["inbound_events"] >= 3  # the follow, the message, the order
    assert left_after_erasure(db, journey.needles) == {}
    # What the admin API serves of the person's stored webhooks names nobody.
    events = api.get("/events").json()["items"]
    assert len(events) >= 3
    for event in events:
        served = api.get(f"/events/{event['id']}")
        assert served.status_code == 200
        assert not any(n.casefold() in served.text.casefold() for n in journey.needles)
    with db.session_scope() as session:
        friend = session.get_one(Friend, journey.friend_id)
        assert friend.status == FriendStatus.ERASED
        member = session.get_one(Member, journey.member_id)
        assert member.email is None and member.phone is None and member.birth_date is None
        # What the shop needs for its counts stays: the order, the send, the events.
        assert session.scalars(select(Purchase)).one().total > 0
        assert session.scalars(select(Delivery.state)).all() == ["sent"]
        assert len(session.scalars(select(InboundEvent.id)).all()) >= 3
        # Her tracked link still counts its clicks, but leads only to the shop's site now.
        assert session.scalars(select(TrackedLink.url)).all() == ["https://shop.example.jp/"]
        [entry] = session.scalars(select(AuditLog).where(AuditLog.action == "privacy.erased"))
        assert entry.subject_type == "friend" and entry.detail["counts"] == counts


def test_erasing_again_finds_nothing_more_and_another_shop_cannot_erase(
    db: Database, hub_url: str, shop: Shop, journey: Journey
) -> None:
    api = admin_api(db, hub_url, shop)
    assert api.post(f"/members/{journey.member_id}/erase", {}).status_code == 200

    again = api.post(f"/members/{journey.member_id}/erase", {})

    assert again.status_code == 200
    assert again.json()["erased"] == {}
    erased = api.get(f"/friends/{journey.friend_id}")
    assert erased.status_code == 200, erased.text
    assert erased.json()["status"] == "erased" and erased.json()["profile"]["display_name"] is None
    other = admin_api(db, hub_url, make_shop(db))
    refused = other.post(f"/friends/{journey.friend_id}/erase", {})
    assert refused.status_code == 404
    assert refused.json()["error"] == "PersonNotFound"


def test_a_shopify_redaction_erases_the_person_and_keeps_no_copy_of_its_request(
    db: Database, journey: Journey
) -> None:
    sender = journey.store.server.webhooks
    response = sender.send(
        journey.store.webhook_url,
        "customers/redact",
        {
            "shop_domain": journey.store.state.shop_domain,
            "customer": {"id": int(journey.customer_id), "email": "hanako.yamada@example.jp"},
            "orders_to_redact": [int(journey.order_id)],
        },
    )
    assert response.status_code == 200

    wait_for(
        lambda: not find(db, journey.needles), what="the redaction to erase the person", timeout=20
    )
    with db.session_scope() as session:
        request = session.scalars(
            select(InboundEvent).where(InboundEvent.event_type == "customers/redact")
        ).one()
        assert request.payload["customer"] == {"id": int(journey.customer_id)}


def test_the_cli_erases_a_member_by_number(cli, db: Database, shop: Shop, journey: Journey) -> None:
    result = cli(
        "privacy", "erase", "--shop", shop.slug, "--member", journey.member_number, "--yes"
    )

    assert result.exit_code == 0, result.output
    assert "members: 1" in result.output
    assert left_after_erasure(db, journey.needles) == {}


def test_the_cli_wants_exactly_one_person(cli, shop: Shop) -> None:
    result = cli("privacy", "erase", "--shop", shop.slug, "--yes")

    assert result.exit_code == 2
    assert "exactly one of --friend ID or --member NUMBER" in result.output


def test_an_event_naming_the_person_still_waiting_is_closed_not_applied_later(
    db: Database, hub_url: str, shop: Shop, journey: Journey
) -> None:
    with db.session_scope() as session:
        [waiting] = store_events(
            session,
            source="shopify",
            shop_id=shop.id,
            connection_id=journey.store.connection_id,
            events=[
                IncomingEvent(
                    dedup_key="late-order",
                    event_type="orders/updated",
                    payload={"id": 99, "email": EMAIL, "note": "gift wrap"},
                )
            ],
        )
        # Not due yet: the worker must not apply it before the erasure.
        session.execute(
            update(InboundEvent)
            .where(InboundEvent.id == waiting)
            .values(next_attempt_at=utcnow() + timedelta(days=1))
        )

    assert admin_api(db, hub_url, shop).post(f"/friends/{journey.friend_id}/erase", {}).is_success

    with db.session_scope() as session:
        event = session.get_one(InboundEvent, waiting)
        assert event.payload == {"erased": True}
        assert event.status == EventStatus.PROCESSED
        assert event.last_error == "the person's data was erased on request"
