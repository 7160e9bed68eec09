"""The demo salon's world: its members, and the systems that know them — a Shopify store, a
Salesforce org, a reservation system — each started as a sandbox and sending the hub what a real
one would (syncs and signed webhooks), for ``tsunagu demo``."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from commerce import connections, sync
from core import tenancy
from sandbox.reservations.demo import send_demo_bookings
from sandbox.reservations.systems import Customer
from sandbox.salesforce.demo import DemoContact, start_demo_org
from sandbox.shopify.server import ShopifyServer
from sandbox.shopify.state import ShopifyState

if TYPE_CHECKING:
    from tsunagu.demo import Demo

DEMO_SHOP = "demo-salon"
RESERVATION_SECRET = "demo-reservation-secret"


@dataclass(frozen=True, slots=True)
class DemoMember:
    number: str
    name: str
    email: str
    phone: str
    birth_date: str


MEMBERS = (
    DemoMember("M-1001", "佐藤 花子", "hanako@example.jp", "090-1111-2222", "1990-04-01"),
    DemoMember("M-1002", "鈴木 一郎", "ichiro@example.jp", "080-3333-4444", "1985-08-15"),
    DemoMember("M-1003", "高橋 美咲", "misaki@example.jp", "070-5555-6666", "1998-12-24"),
)


def wait(check: Callable[[], bool], what: str, timeout: float = 15.0) -> None:
    """Poll ``check`` until it holds; the demo stops with ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise RuntimeError(f"the demo timed out waiting for {what}")
        time.sleep(0.05)


def _add_connection(demo: Demo, **options: Any) -> int:
    with demo.hub.database.session_scope() as session:
        connection = connections.create_connection(
            session, shop=tenancy.get_shop(session, DEMO_SHOP), **options
        )
        return connection.id


def sync_shopify(demo: Demo, step: Callable[[str], None]) -> None:
    """A Shopify store: customers tagged with their member number, a guest order carrying a
    LINE user id, then a new order arriving by signed webhook after the sync."""
    store = ShopifyServer(ShopifyState()).start()
    demo.others.append(store)
    customers = {
        m.number: store.state.add_customer(
            email=m.email,
            first_name=m.name.split()[1],
            last_name=m.name.split()[0],
            tags=[f"member:{m.number}"],
        )["id"]
        for m in MEMBERS
    }
    hanako = customers[MEMBERS[0].number]
    # The store's history: orders from last month, which no campaign thanks again.
    last_month = datetime.now(UTC) - timedelta(days=30)
    store.state.add_order(
        customer_id=hanako, items=[("シャンプー 300ml", 2, "2750")], created_at=last_month
    )
    store.state.add_order(
        customer_id=customers[MEMBERS[2].number],
        items=[("Hair oil", 1, "4400")],
        created_at=last_month,
    )
    store.state.add_order(
        email="guest@example.jp",
        items=[("Gift card", 1, "5000")],
        note_attributes={"line_user_id": demo.users["ichiro"]},
        created_at=last_month,
    )
    connection_id = _add_connection(
        demo,
        kind="shopify",
        name="online-store",
        base_url=store.url,
        credentials={
            "access_token": store.state.access_token,
            "client_secret": store.state.client_secret,
        },
        options={"member_number_tag_prefix": "member:"},
    )
    results = sync.run_sync(demo.hub.database, connection_id=connection_id)
    synced = sum(r.counts.get("created", 0) for r in results if r.stream == "orders")
    demo.admin(f"/campaigns/{demo.campaign_id('thanks-for-your-order')}/activate", method="POST")
    order = store.state.add_order(customer_id=hanako, items=[("Treatment", 1, "6600")])
    store.webhooks.send(
        f"{demo.hub_url}/webhooks/shopify/{connection_id}",
        "orders/create",
        store.webhooks.order_payload(order["id"]),
    )
    wait(lambda: len(demo.admin("/purchases")["items"]) == synced + 1, "the orders/create webhook")
    step(
        f"Shopify store synced: {synced} orders (one a guest checkout carrying a LINE user id), "
        "then one more by signed webhook"
    )
    wait(
        lambda: any("ご購入ありがとうございます" in t for t in demo.texts("hanako")),
        "the thank-you for the new order",
    )
    step("the new order became a thank-you with a coupon and a tracked link on はなこ's phone")
    demo.store = (store, connection_id)


def sync_salesforce(demo: Demo, step: Callable[[str], None]) -> None:
    """A Salesforce org with a Contact and an upcoming Event per member, synced into the hub."""
    org = start_demo_org(
        [DemoContact(m.number, m.name.split()[0], m.email, m.phone) for m in MEMBERS]
    )
    demo.others.append(org.sandbox)
    connection_id = _add_connection(
        demo,
        kind="salesforce",
        name="salesforce",
        base_url=org.sandbox.url,
        credentials=org.credentials,
        options=org.options,
    )
    results = sync.run_sync(demo.hub.database, connection_id=connection_id)
    counts = {r.stream: r.counts.get("created", 0) for r in results}
    step(
        f"Salesforce org synced: {counts.get('contacts', 0)} contacts, "
        f"{counts.get('bookings', 0)} bookings attached to members by member number"
    )


def receive_bookings(demo: Demo, step: Callable[[str], None]) -> None:
    """A reservation system books each member over signed reservation.v1 webhooks."""
    connection_id = _add_connection(
        demo,
        kind="reservations",
        name="salon-booking",
        credentials={"secrets": [RESERVATION_SECRET]},
    )
    customers = [
        Customer(external_id=f"cust-{m.number}", name=m.name, email=m.email) for m in MEMBERS
    ]
    deliveries = send_demo_bookings(
        f"{demo.hub_url}/webhooks/reservations/{connection_id}",
        RESERVATION_SECRET,
        customers,
        same_day=customers[1],
    )
    wait(
        lambda: len(demo.admin("/bookings?status=confirmed")["items"]) >= 2 * len(MEMBERS),
        "the reservation webhooks",
    )
    step(
        f"reservation system sent {len(deliveries)} signed webhooks: {len(MEMBERS) + 1} bookings "
        "(one today), one rescheduled"
    )
    wait(lambda: any(t.startswith("本日") for t in demo.texts("ichiro")), "the same-day reminder")
    planned = demo.admin("/deliveries?state=pending")["items"]
    step(
        "Ichiro S.'s booking later today got its two-hours-before reminder at once; "
        f"{sum(d['source'].startswith('reminder:') for d in planned)} more reminders wait for "
        "their time"
    )
