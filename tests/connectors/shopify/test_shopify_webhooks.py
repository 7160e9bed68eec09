"""Shopify webhooks at the hub, sent by the sandbox store over real HTTP: verified on the raw
body, stored once per X-Shopify-Event-Id before the 200, processed by the worker, stale
payloads ignored, app and privacy topics acted on."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sqlalchemy import func, select

from commerce.models import Connection, ConnectionStatus, Purchase
from core.audit import AuditLog
from core.db import Database
from core.inbox import EventStatus, InboundEvent
from core.tenancy import Shop
from idlink.identities import ExternalIdentity
from tests.connectors.shopify.conftest import Store, add_member, purchases
from tests.waiting import wait_for

T0 = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def events(db: Database, store: Store) -> list[InboundEvent]:
    with db.session_scope() as session:
        found = list(
            session.scalars(
                select(InboundEvent)
                .where(InboundEvent.connection_id == store.connection_id)
                .order_by(InboundEvent.id)
            )
        )
        session.expunge_all()
        return found


def processed(db: Database, store: Store, count: int) -> list[InboundEvent]:
    """Wait until ``count`` events of the store are processed."""
    return wait_for(
        lambda: (
            found
            if len(found := [e for e in events(db, store) if e.status == EventStatus.PROCESSED])
            >= count
            else None
        ),
        what=f"{count} processed Shopify events",
    )


def purchase_when_processed(db: Database, store: Store, order: dict, count: int) -> Purchase:
    processed(db, store, count)
    return purchases(db, store.connection_id)[order["legacyResourceId"]]


def test_an_order_webhook_is_stored_answered_and_becomes_a_purchase(
    db: Database, shop: Shop, store: Store
) -> None:
    member_id = add_member(db, shop, "M700", email="hanako@example.jp")
    order = store.state.add_order(
        email="hanako@example.jp", items=[("Yuzu tart", 2, "720")], updated_at=at(0)
    )

    response = store.server.webhooks.send(
        store.webhook_url, "orders/create", store.server.webhooks.order_payload(order["id"])
    )

    assert response.status_code == 200
    assert response.json() == {"received": 1, "stored": 1}
    purchase = purchase_when_processed(db, store, order, 1)
    assert purchase.total == Decimal("1440")
    assert purchase.member_id == member_id
    assert [(i.title, i.quantity) for i in purchase.items] == [("Yuzu tart", 2)]


def test_a_wrong_signature_is_refused_and_stores_nothing(db: Database, store: Store) -> None:
    order = store.state.add_order(updated_at=at(0))

    response = store.server.webhooks.send(
        store.webhook_url,
        "orders/create",
        store.server.webhooks.order_payload(order["id"]),
        secret="not-the-app-secret",
    )

    assert response.status_code == 401
    assert response.json()["error"] == "InvalidSignature"
    assert events(db, store) == []


def test_a_redelivered_event_is_stored_once(db: Database, store: Store) -> None:
    order = store.state.add_order(updated_at=at(0))
    sender = store.server.webhooks
    sender.send(store.webhook_url, "orders/create", sender.order_payload(order["id"]))

    again = sender.redeliver(store.webhook_url, sender.deliveries[-1])

    assert again.status_code == 200
    assert again.json() == {"received": 1, "stored": 0}
    assert len(events(db, store)) == 1


def test_an_older_payload_arriving_late_changes_nothing(db: Database, store: Store) -> None:
    sender = store.server.webhooks
    order = store.state.add_order(updated_at=at(0))
    created = sender.order_payload(order["id"])
    store.state.cancel_order(order["id"], at=at(5))
    sender.send(store.webhook_url, "orders/cancelled", sender.order_payload(order["id"]))
    purchase_when_processed(db, store, order, 1)

    # Shopify retries the original create payload after the cancellation arrived.
    response = sender.send(store.webhook_url, "orders/create", created)

    assert response.status_code == 200
    purchase = purchase_when_processed(db, store, order, 2)
    assert purchase.cancelled_at is not None
    assert purchase.financial_status == "voided"


def test_a_signed_body_that_is_not_json_is_kept_with_its_error_and_answered_422(
    db: Database, store: Store
) -> None:
    response = store.server.webhooks.send(store.webhook_url, "orders/create", b"{not json")

    assert response.status_code == 422
    [stored] = events(db, store)
    assert stored.status == EventStatus.FAILED
    assert "not JSON" in (stored.last_error or "")


def test_a_signed_order_without_its_id_is_kept_with_its_error_and_answered_422(
    db: Database, store: Store
) -> None:
    response = store.server.webhooks.send(
        store.webhook_url, "orders/updated", {"name": "#1", "updated_at": "2026-11-01T09:00:00Z"}
    )

    assert response.status_code == 422
    [stored] = events(db, store)
    assert "lacks id" in (stored.last_error or "")


def test_a_cancellation_cancels_the_purchase(db: Database, store: Store) -> None:
    sender = store.server.webhooks
    order = store.state.add_order(updated_at=at(0))
    sender.send(store.webhook_url, "orders/create", sender.order_payload(order["id"]))
    purchase_when_processed(db, store, order, 1)

    store.state.cancel_order(order["id"], at=at(3))
    sender.send(store.webhook_url, "orders/cancelled", sender.order_payload(order["id"]))

    purchase = purchase_when_processed(db, store, order, 2)
    assert purchase.cancelled_at is not None


def test_a_refund_webhook_updates_the_purchase_from_the_store(db: Database, store: Store) -> None:
    sender = store.server.webhooks
    order = store.state.add_order(items=[("Ceramic cup", 1, "3300")], updated_at=at(0))
    sender.send(store.webhook_url, "orders/create", sender.order_payload(order["id"]))
    purchase_when_processed(db, store, order, 1)

    store.state.refund_order(order["id"], "1100", at=at(4))
    # refunds/create carries the refund only; the hub re-reads the order it belongs to.
    sender.send(store.webhook_url, "refunds/create", sender.refund_payload(order["id"]))

    purchase = purchase_when_processed(db, store, order, 2)
    assert purchase.refunded_total == Decimal("1100")
    assert purchase.financial_status == "partially_refunded"


def test_app_uninstalled_disables_the_connection_and_later_webhooks_are_refused(
    db: Database, store: Store
) -> None:
    sender = store.server.webhooks
    sender.send(store.webhook_url, "app/uninstalled", {"id": 1, "domain": "x.myshopify.com"})
    processed(db, store, 1)

    with db.session_scope() as session:
        connection = session.get_one(Connection, store.connection_id)
        assert connection.status == ConnectionStatus.DISABLED
        assert "uninstalled" in (connection.status_reason or "")
    order = store.state.add_order(updated_at=at(0))
    late = sender.send(store.webhook_url, "orders/create", sender.order_payload(order["id"]))
    assert late.status_code == 410


def test_customer_redact_erases_the_customers_personal_data_and_keeps_the_orders(
    db: Database, shop: Shop, store: Store
) -> None:
    sender = store.server.webhooks
    add_member(db, shop, "M800", email="erase-me@example.jp")
    customer = store.state.add_customer(
        email="erase-me@example.jp", phone="090-8888-0000", updated_at=at(0)
    )
    order = store.state.add_order(customer_id=customer["id"], updated_at=at(1))
    sender.send(store.webhook_url, "orders/create", sender.order_payload(order["id"]))
    assert purchase_when_processed(db, store, order, 1).member_id is not None

    sender.send(
        store.webhook_url,
        "customers/redact",
        {
            "shop_domain": store.state.shop_domain,
            "customer": {"id": int(customer["legacyResourceId"])},
            "orders_to_redact": [int(order["legacyResourceId"])],
        },
    )

    purchase = purchase_when_processed(db, store, order, 2)
    assert purchase.member_id is None
    assert purchase.total > 0
    with db.session_scope() as session:
        identity = session.scalars(
            select(ExternalIdentity).where(
                ExternalIdentity.external_id == customer["legacyResourceId"]
            )
        ).one()
        assert identity.email is None and identity.email_index is None
        assert identity.phone is None and identity.phone_index is None
        assert identity.member_id is None


def test_customer_data_request_is_answered_with_a_report_in_the_audit_log(
    db: Database, shop: Shop, store: Store
) -> None:
    sender = store.server.webhooks
    customer = store.state.add_customer(email="ask@example.jp", updated_at=at(0))
    order = store.state.add_order(customer_id=customer["id"], updated_at=at(1))
    sender.send(store.webhook_url, "orders/create", sender.order_payload(order["id"]))
    processed(db, store, 1)

    sender.send(
        store.webhook_url,
        "customers/data_request",
        {
            "customer": {"id": int(customer["legacyResourceId"]), "email": "ask@example.jp"},
            "orders_requested": [int(order["legacyResourceId"])],
            "data_request": {"id": 42},
        },
    )
    processed(db, store, 2)

    with db.session_scope() as session:
        report = session.scalars(
            select(AuditLog).where(AuditLog.action == "privacy.data_request")
        ).one()
        assert report.detail["data_request_id"] == "42"
        assert report.detail["identities"][0]["fields_held"] == ["email"]
        assert report.detail["purchases"] == [
            {"order_id": order["legacyResourceId"], "name": order["name"]}
        ]
        # The report says which fields are held, never their values.
        assert "ask@example.jp" not in str(report.detail)


def test_shop_redact_erases_every_customer_of_the_store(
    db: Database, shop: Shop, store: Store
) -> None:
    sender = store.server.webhooks
    for number in range(3):
        customer = store.state.add_customer(email=f"c{number}@example.jp", updated_at=at(0))
        order = store.state.add_order(customer_id=customer["id"], updated_at=at(number))
        sender.send(store.webhook_url, "orders/create", sender.order_payload(order["id"]))
    processed(db, store, 3)

    sender.send(store.webhook_url, "shop/redact", {"shop_domain": store.state.shop_domain})
    processed(db, store, 4)

    with db.session_scope() as session:
        still_held = session.scalar(
            select(func.count(ExternalIdentity.id)).where(
                ExternalIdentity.connection_id == store.connection_id,
                ExternalIdentity.email.is_not(None),
            )
        )
        assert still_held == 0
        assert session.get_one(Connection, store.connection_id).status == "disabled"


def test_a_customer_update_carrying_a_member_number_attaches_their_earlier_orders(
    db: Database, shop: Shop, store: Store
) -> None:
    sender = store.server.webhooks
    member_id = add_member(db, shop, "M900")
    customer = store.state.add_customer(email="later@example.jp", updated_at=at(0))
    order = store.state.add_order(customer_id=customer["id"], updated_at=at(1))
    sender.send(store.webhook_url, "orders/create", sender.order_payload(order["id"]))
    assert purchase_when_processed(db, store, order, 1).member_id is None

    store.state.update_customer(customer["id"], tags=["member:M900"], updated_at=at(5))
    sender.send(store.webhook_url, "customers/update", sender.customer_payload(customer["id"]))

    assert purchase_when_processed(db, store, order, 2).member_id == member_id
