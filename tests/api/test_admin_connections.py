"""The admin API shows each connection's sync state and the identities waiting for review."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from commerce import service
from commerce.models import Connection, ConnectorState, SyncRun
from connectors.records import Contact, CustomerRecord
from core.clock import utcnow
from core.db import Database
from core.tenancy import Shop
from tests.api.admin_support import add_member, admin_api
from tests.factories import make_shop

T0 = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)


def add_connection(database: Database, shop: Shop, name: str = "store") -> int:
    with database.session_scope() as session:
        connection = Connection(
            shop_id=shop.id,
            kind="shopify",
            name=name,
            credentials=json.dumps({"access_token": "shpat_secret_value"}),
            options={},
            # Synced a moment ago: the hub's scheduler leaves it alone during the test.
            last_sync_started_at=utcnow(),
            sync_interval_seconds=86_400,
        )
        session.add(connection)
        session.flush()
        session.add(
            ConnectorState(
                connection_id=connection.id, stream="orders", cursor="2026-11-01T09:00:00+00:00"
            )
        )
        session.add(
            SyncRun(
                connection_id=connection.id,
                stream="orders",
                mode="incremental",
                status="failed",
                started_at=T0,
                finished_at=T0,
                pages=3,
                counts={"created": 7},
                error="Shopify answered 401: the access token was rejected",
            )
        )
        return connection.id


def test_connection_status_shows_cursor_last_run_counts_and_error_but_no_secret(
    db: Database, hub_url: str, shop: Shop
) -> None:
    connection_id = add_connection(db, shop)
    api = admin_api(db, hub_url, shop)

    response = api.get(f"/connections/{connection_id}")

    assert response.status_code == 200
    body = response.json()
    assert body["cursors"] == {"orders": "2026-11-01T09:00:00+00:00"}
    (run,) = body["last_runs"]
    assert run["counts"] == {"created": 7}
    assert "401" in run["error"]
    assert "shpat_secret_value" not in response.text


def test_another_shops_token_sees_no_connection(db: Database, hub_url: str, shop: Shop) -> None:
    connection_id = add_connection(db, shop)
    outsider = admin_api(db, hub_url, make_shop(db))

    assert outsider.get("/connections").json() == []
    assert outsider.get(f"/connections/{connection_id}").status_code == 404


def test_a_customer_matching_two_members_is_listed_for_review(
    db: Database, hub_url: str, shop: Shop
) -> None:
    first = add_member(db, shop.id, "M-1", email="shared@example.jp")
    second = add_member(db, shop.id, "M-2", phone="090-1234-0000")
    connection_id = add_connection(db, shop)
    with db.session_scope() as session:
        service.apply_record(
            session,
            connection=session.get_one(Connection, connection_id),
            record=CustomerRecord(
                external_id="gid://shopify/Customer/7",
                updated_at=T0,
                contact=Contact(email="shared@example.jp", phone="+819012340000"),
            ),
        )

    reviews = admin_api(db, hub_url, shop).get("/identity-reviews").json()["items"]

    assert [(r["external_id"], r["candidate_member_ids"]) for r in reviews] == [
        ("gid://shopify/Customer/7", sorted([first, second]))
    ]
    assert reviews[0]["matched_on"] == {str(first): ["email"], str(second): ["phone"]}
