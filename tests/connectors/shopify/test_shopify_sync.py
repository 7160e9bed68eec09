"""Syncing a Shopify store: incremental on updated_at with a lookback, bookmarks that never pass
the run's start, paced by the query-cost bucket, bulk backfills that resume where they stopped,
and orders attached to the right member on strong keys only."""

from __future__ import annotations

import json
import socket
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select

from commerce.bulk import apply_records
from commerce.models import (
    Connection,
    ConnectorState,
    ProductGroup,
    ProductGroupMember,
    Purchase,
    PurchaseItem,
    SyncRun,
)
from commerce.sync import run_sync
from connectors.base import ConnectionConfig
from connectors.errors import FatalError, RetriableError
from connectors.shopify.client import RetryPolicy
from connectors.shopify.connector import ShopifyConnector
from core.db import Database
from core.tenancy import Channel, Shop
from idlink import friends
from idlink import service as idlink_service
from idlink.identities import ExternalIdentity, IdentityReview, MatchStatus
from idlink.models import LinkMethod, Member
from tests.connectors.shopify.conftest import Store, add_member, connect, purchases
from tests.factories import ChannelSetup

T0 = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)


def legacy_id(global_id: str) -> str:
    return global_id.rsplit("/", 1)[1]


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def sync(db: Database, store: Store, *, now: datetime, **kwargs):
    return run_sync(db, connection_id=store.connection_id, clock=lambda: now, **kwargs)


def cursor_of(db: Database, store: Store, stream: str) -> str | None:
    with db.session_scope() as session:
        state = session.get(ConnectorState, (store.connection_id, stream))
        return state.cursor if state else None


def test_first_sync_reads_every_order_with_its_lines_page_by_page(
    db: Database, store: Store
) -> None:
    customer = store.state.add_customer(email="hanako@example.jp", updated_at=at(0))
    for minute in range(7):
        store.state.add_order(
            customer_id=customer["id"],
            items=[("Matcha latte", 2, "680"), ("Yuzu tart", 1, "720")],
            discount_codes=["SPRING"],
            updated_at=at(minute),
        )

    results = sync(db, store, now=at(60), streams=["orders"])

    assert results[0].status == "succeeded"
    assert results[0].pages == 3  # 3 + 3 + 1 with a page size of 3
    stored = purchases(db, store.connection_id)
    assert len(stored) == 7
    some = next(iter(stored.values()))
    assert some.total == Decimal("2080")
    assert some.discount_codes == ["SPRING"]
    assert sorted((i.title, i.quantity) for i in some.items) == [
        ("Matcha latte", 2),
        ("Yuzu tart", 1),
    ]
    assert cursor_of(db, store, "orders") == "2026-11-01T09:06:00Z"


def test_incremental_sync_picks_up_new_and_changed_orders_and_leaves_the_rest(
    db: Database, store: Store
) -> None:
    first = store.state.add_order(updated_at=at(0))
    second = store.state.add_order(updated_at=at(1))
    sync(db, store, now=at(10), streams=["orders"])

    store.state.cancel_order(first["id"], at=at(20))
    store.state.add_order(updated_at=at(21))
    results = sync(db, store, now=at(30), streams=["orders"])

    counts = results[0].counts
    assert counts["created"] == 1
    assert counts["updated"] == 1
    # The order at the bookmark is read again (>= and a lookback) and changes nothing.
    assert counts["unchanged"] == 1
    stored = purchases(db, store.connection_id)
    assert len(stored) == 3
    assert stored[first["legacyResourceId"]].cancelled_at is not None
    assert stored[second["legacyResourceId"]].cancelled_at is None


def test_orders_committed_late_inside_the_lookback_window_are_not_missed(
    db: Database, store: Store
) -> None:
    store.state.add_order(updated_at=at(10))
    sync(db, store, now=at(11), streams=["orders"])
    # Committed at the source after the first run read, but stamped before its bookmark.
    late = store.state.add_order(updated_at=at(8))

    results = sync(db, store, now=at(12), streams=["orders"])

    assert late["legacyResourceId"] in purchases(db, store.connection_id)
    assert results[0].counts["unchanged"] == 1  # the order at 10:00 is re-read, not re-written


def test_bookmark_never_passes_the_run_start(db: Database, store: Store) -> None:
    store.state.add_order(updated_at=at(5))
    # An order stamped after the run started (the store's clock ahead, or a write mid-run).
    store.state.add_order(updated_at=at(50))

    sync(db, store, now=at(30), streams=["orders"])

    assert cursor_of(db, store, "orders") == "2026-11-01T09:30:00Z"
    assert len(purchases(db, store.connection_id)) == 2


def test_since_rereads_changes_after_that_date(db: Database, store: Store) -> None:
    store.state.add_order(updated_at=at(0))
    store.state.add_order(updated_at=at(100))

    results = sync(db, store, now=at(200), streams=["orders"], since=at(90))

    assert results[0].counts["created"] == 1


def test_a_rejected_token_fails_fast_with_what_to_do(
    db: Database, shop: Shop, shopify_server, hub_url: str
) -> None:
    store = connect(db, shop, shopify_server, hub_url, access_token="shpat_revoked")
    store.state.add_order(updated_at=at(0))

    results = sync(db, store, now=at(1), streams=["orders"])

    assert results[0].status == "failed"
    assert "access token was rejected" in (results[0].error or "")
    assert "reinstall the app" in (results[0].error or "")
    with db.session_scope() as session:
        connection = session.get_one(Connection, store.connection_id)
        assert "reinstall the app" in (connection.status_reason or "")
    # One request, no retries: a 401 will not get better by asking again.
    assert store.state.unauthorized == 1


def test_server_errors_are_retried_with_backoff(db: Database, store: Store) -> None:
    store.state.add_order(updated_at=at(0))
    store.state.fail(503, count=2)

    results = sync(db, store, now=at(1), streams=["orders"])

    assert results[0].status == "succeeded"
    assert len(purchases(db, store.connection_id)) == 1


def connector_for(store: Store, sleeps: list[float], **options) -> ShopifyConnector:
    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        time.sleep(seconds)

    return ShopifyConnector(
        ConnectionConfig(
            kind="shopify",
            base_url=store.server.url,
            credentials={"access_token": store.state.access_token},
            options={"page_size": 3, **options},
        ),
        sleep=sleep,
        retry=RetryPolicy(attempts=5, base_delay=0.01, max_delay=0.1),
    )


def test_a_store_that_stops_answering_is_retried_then_fails_as_retriable(store: Store) -> None:
    silent = socket.create_server(("127.0.0.1", 0))  # accepts connections, never answers
    try:
        connector = ShopifyConnector(
            ConnectionConfig(
                kind="shopify",
                base_url=f"http://127.0.0.1:{silent.getsockname()[1]}",
                credentials={"access_token": store.state.access_token},
                options={"request_timeout_seconds": 0.3},
            ),
            sleep=lambda _seconds: None,
            retry=RetryPolicy(attempts=2, base_delay=0.01, max_delay=0.01),
        )
        started = time.monotonic()
        with pytest.raises(RetriableError, match=r"did not answer within 0.3 s"):
            list(connector.pull("orders", None, now=at(60)))
        assert time.monotonic() - started < 5
    finally:
        silent.close()


def test_an_error_answer_is_classified_and_not_printed(
    store: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    store.state.fail(400, count=None)
    connector = connector_for(store, [])
    with pytest.raises(FatalError, match="Shopify answered 400"):
        list(connector.pull("orders", None, now=at(60)))
    assert capsys.readouterr().out == ""


def test_pages_are_paced_by_the_bucket_instead_of_being_throttled(store: Store) -> None:
    twenty_lines = [(f"Item {n}", 1, "100") for n in range(20)]
    for minute in range(9):
        store.state.add_order(items=twenty_lines, updated_at=at(minute))
    # A page of 3 orders asks for 86 points and uses 71 (3 orders with 20 lines each): with a
    # 100-point bucket restoring 100 a second, each next page has to wait for about 0.6 s.
    store.state.set_bucket(size=100, restore_rate=100)
    sleeps: list[float] = []
    connector = connector_for(store, sleeps)

    pages = list(connector.pull("orders", None, now=at(60)))

    assert sum(len(p.records) for p in pages) == 9
    assert connector.client.throttled_count == 0
    assert len([s for s in sleeps if s > 0.3]) == 2


def test_a_throttled_answer_is_retried_after_the_bucket_refills(store: Store) -> None:
    store.state.add_order(updated_at=at(0))
    store.state.set_bucket(size=100, restore_rate=200, available=0)
    sleeps: list[float] = []
    connector = connector_for(store, sleeps)

    pages = list(connector.pull("orders", None, now=at(60)))

    assert connector.client.throttled_count == 1
    assert sum(len(p.records) for p in pages) == 1
    # The wait came from throttleStatus: the 86 points asked for at 200 a second, less what
    # refilled before the query arrived.
    assert any(0.25 <= s <= 0.45 for s in sleeps)


def test_forced_throttling_beyond_the_retry_budget_fails_the_run_as_retriable(
    store: Store,
) -> None:
    store.state.add_order(updated_at=at(0))
    store.state.throttle_next(10)
    connector = connector_for(store, [])

    with pytest.raises(RetriableError, match="throttled"):
        list(connector.pull("orders", None, now=at(60)))
    assert connector.client.throttled_count == 5


# ---- bulk backfill ---------------------------------------------------------------------------


def bulk_store(db: Database, shop: Shop, server, hub_url: str) -> Store:
    return connect(db, shop, server, hub_url, options={"backfill": "bulk", "bulk_page_size": 4})


def test_bulk_backfill_stitches_line_items_onto_their_orders(
    db: Database, shop: Shop, shopify_server, hub_url: str
) -> None:
    store = bulk_store(db, shop, shopify_server, hub_url)
    for minute in range(10):
        store.state.add_order(
            items=[("Hojicha", 1, "540"), ("Sakura mochi", minute + 1, "380")],
            updated_at=at(minute),
        )

    results = sync(db, store, now=at(60), streams=["orders"], full=True)

    assert results[0].status == "succeeded"
    assert results[0].counts["created"] == 10
    stored = purchases(db, store.connection_id)
    for order in store.state.orders.values():
        purchase = stored[order["legacyResourceId"]]
        assert sorted(i.external_id for i in purchase.items) == sorted(
            i["id"].rsplit("/", 1)[1] for i in order["lineItems"]
        )
    # Incremental runs go on from the backfill's start.
    assert cursor_of(db, store, "orders") == "2026-11-01T10:00:00Z"
    assert len([r for r in store.state.requests if r["operation"] == "bulkOperationRunQuery"]) == 1


def test_a_killed_backfill_resumes_from_its_checkpoint_without_loss_or_duplicates(
    db: Database, shop: Shop, shopify_server, hub_url: str
) -> None:
    store = bulk_store(db, shop, shopify_server, hub_url)
    for minute in range(10):
        store.state.add_order(updated_at=at(minute))
    connector = ShopifyConnector(
        ConnectionConfig(
            kind="shopify",
            base_url=store.server.url,
            credentials={"access_token": store.state.access_token},
            options={"backfill": "bulk", "bulk_page_size": 4, "bulk_poll_seconds": 0.02},
        )
    )
    # Run the backfill by hand and stop after two pages, as a killed worker would.
    pages = connector.pull("orders", None, now=at(60), full=True)
    started = next(pages)
    first = next(pages)
    progress = json.loads(first.cursor or "")
    assert progress["bulk"] == json.loads(started.cursor or "")["bulk"]
    with db.session_scope() as session:
        session.add(
            ConnectorState(connection_id=store.connection_id, stream="orders", cursor=first.cursor)
        )
        connection = session.get_one(Connection, store.connection_id)
        apply_records(session, connection=connection, records=first.records)

    results = sync(db, store, now=at(70), streams=["orders"])

    assert results[0].counts["created"] == 6
    assert results[0].counts.get("unchanged", 0) == 0
    with db.session_scope() as session:
        assert len(session.scalars(select(Purchase)).all()) == 10
    # The same bulk operation was resumed, not a new one started.
    assert len([r for r in store.state.requests if r["operation"] == "bulkOperationRunQuery"]) == 1


def test_a_sync_failing_midway_keeps_its_pages_and_the_next_run_completes(
    db: Database, store: Store
) -> None:
    for minute in range(9):
        store.state.add_order(updated_at=at(minute))
    # The store goes down after two pages and stays down for the rest of the run.
    store.state.fail(500, count=None, after=2)

    failed = sync(db, store, now=at(60), streams=["orders"])

    assert failed[0].status == "failed"
    assert len(purchases(db, store.connection_id)) == 6
    assert cursor_of(db, store, "orders") == "2026-11-01T09:05:00Z"

    store.state.heal()
    resumed = sync(db, store, now=at(61), streams=["orders"])

    assert resumed[0].status == "succeeded"
    assert resumed[0].counts["created"] == 3
    with db.session_scope() as session:
        assert len(session.scalars(select(Purchase)).all()) == 9
        assert len(session.scalars(select(PurchaseItem)).all()) == 9
        runs = session.scalars(select(SyncRun).order_by(SyncRun.id)).all()
        assert [r.status for r in runs] == ["failed", "succeeded"]


# ---- orders attach to members ---------------------------------------------------------------


def member_of(db: Database, store: Store, order: dict) -> int | None:
    return purchases(db, store.connection_id)[order["legacyResourceId"]].member_id


def test_order_attaches_by_member_number_in_a_customer_tag(
    db: Database, shop: Shop, store: Store
) -> None:
    member_id = add_member(db, shop, "M100")
    customer = store.state.add_customer(tags=["vip", "member:M100"], updated_at=at(0))
    order = store.state.add_order(customer_id=customer["id"], updated_at=at(1))

    sync(db, store, now=at(10))

    assert member_of(db, store, order) == member_id


def test_order_attaches_by_member_number_in_a_customer_metafield(
    db: Database, shop: Shop, shopify_server, hub_url: str
) -> None:
    store = connect(
        db, shop, shopify_server, hub_url, options={"member_number_metafield": "loyalty.number"}
    )
    member_id = add_member(db, shop, "M200")
    customer = store.state.add_customer(metafields={"loyalty.number": "M200"}, updated_at=at(0))
    order = store.state.add_order(customer_id=customer["id"], updated_at=at(1))

    sync(db, store, now=at(10))

    assert member_of(db, store, order) == member_id


def test_order_attaches_through_the_line_user_id_in_its_note_attributes(
    db: Database, shop: Shop, store: Store, channel: ChannelSetup
) -> None:
    member_id = add_member(db, shop, "M300")
    line_user_id = "U" + "3" * 32
    with db.session_scope() as session:
        linked_channel = session.get_one(Channel, channel.channel_pk)
        friend = friends.get_or_create_friend(
            session, channel=linked_channel, line_user_id=line_user_id
        )
        idlink_service.link_member(
            session,
            channel=linked_channel,
            friend=friend,
            member=session.get_one(Member, member_id),
            method=LinkMethod.STAFF,
            actor="test",
            now=at(0),
        )
    guest = store.state.add_customer(email="someone-else@example.com", updated_at=at(0))
    order = store.state.add_order(
        customer_id=guest["id"], note_attributes={"line_user_id": line_user_id}, updated_at=at(1)
    )

    sync(db, store, now=at(10))

    assert member_of(db, store, order) == member_id


def test_order_attaches_by_email_or_by_phone(db: Database, shop: Shop, store: Store) -> None:
    by_email = add_member(db, shop, "M400", email="taro@example.jp")
    by_phone = add_member(db, shop, "M401", phone="090-1111-2222")
    first = store.state.add_order(email="Taro@Example.JP", updated_at=at(1))
    customer = store.state.add_customer(phone="+81 90 1111 2222", updated_at=at(0))
    second = store.state.add_order(customer_id=customer["id"], updated_at=at(2))

    sync(db, store, now=at(10))

    assert member_of(db, store, first) == by_email
    assert member_of(db, store, second) == by_phone


def test_a_customer_matching_two_members_attaches_nothing_and_lands_in_review(
    db: Database, shop: Shop, store: Store
) -> None:
    add_member(db, shop, "M500", email="shared@example.jp")
    add_member(db, shop, "M501", phone="080-5555-0000")
    customer = store.state.add_customer(
        email="shared@example.jp", phone="08055550000", updated_at=at(0)
    )
    order = store.state.add_order(customer_id=customer["id"], updated_at=at(1))

    sync(db, store, now=at(10))

    assert member_of(db, store, order) is None
    with db.session_scope() as session:
        identity = session.scalars(
            select(ExternalIdentity).where(
                ExternalIdentity.external_id == customer["legacyResourceId"]
            )
        ).one()
        assert identity.status == MatchStatus.AMBIGUOUS
        review = session.scalars(
            select(IdentityReview).where(IdentityReview.identity_id == identity.id)
        ).one()
        assert len(review.candidate_member_ids) == 2


def test_names_alone_attach_nothing(db: Database, shop: Shop, store: Store) -> None:
    add_member(db, shop, "M600", name="Hanako Yamada")
    customer = store.state.add_customer(first_name="Hanako", last_name="Yamada", updated_at=at(0))
    order = store.state.add_order(customer_id=customer["id"], updated_at=at(1))

    sync(db, store, now=at(10))

    assert member_of(db, store, order) is None


def collections_of(db: Database, store: Store) -> dict[str, set[str]]:
    """handle → product ids of the connection's collections."""
    with db.session_scope() as session:
        rows = session.execute(
            select(ProductGroup.handle, ProductGroupMember.product_id)
            .outerjoin(ProductGroupMember, ProductGroupMember.group_id == ProductGroup.id)
            .where(ProductGroup.connection_id == store.connection_id)
        )
        found: dict[str, set[str]] = {}
        for handle, product in rows:
            found.setdefault(handle, set())
            if product is not None:
                found[handle].add(product)
        return found


def test_collections_are_read_whole_with_every_product_and_dropped_when_gone(
    db: Database, store: Store
) -> None:
    many = [f"Tea {n}" for n in range(130)]  # more than one page of a collection's products
    big = store.state.add_collection(handle="teas", products=many)
    gone = store.state.add_collection(handle="summer", products=["Yuzu tart"])
    for n in range(9):  # and more than one page of collections
        store.state.add_collection(handle=f"shelf-{n}", products=[])

    (result,) = sync(db, store, now=at(0), streams=["collections"])

    assert result.status == "succeeded" and result.pages == 2
    stored = collections_of(db, store)
    assert len(stored) == 11
    assert stored["teas"] == {legacy_id(product) for product in big["productIds"]}
    assert len(stored["teas"]) == 130
    assert stored["summer"] == {legacy_id(gone["productIds"][0])}

    store.state.remove_collection(gone["id"])
    before = len(store.state.requests)
    sync(db, store, now=at(60), streams=["collections"])
    assert len(store.state.requests) == before  # read at most every 6 hours
    assert "summer" in collections_of(db, store)

    sync(db, store, now=at(6 * 60), streams=["collections"])
    assert "summer" not in collections_of(db, store)
    assert len(collections_of(db, store)["teas"]) == 130
