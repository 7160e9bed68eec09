"""Syncing a Salesforce org into the hub: login, incremental contacts and bookings with
lookback and a capped bookmark, paging, deletions, field mappings, limits and retries."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from simple_salesforce import Salesforce
from sqlalchemy import select

from commerce import sync
from commerce.connections import due_connections
from commerce.models import Booking, Connection, ConnectorState, SyncRun
from connectors.base import ConnectionConfig
from connectors.salesforce.connector import SalesforceConnector
from core.db import Database
from core.tenancy import Shop
from idlink.identities import ExternalIdentity
from sandbox.salesforce.server import SalesforceSandbox
from tests.connectors.reservations.conftest import add_member
from tests.connectors.salesforce.conftest import (
    KeyPair,
    add_salesforce_connection,
    jwt_credentials,
    make_key_pair,
)
from tests.connectors.salesforce.support import sobject

pytestmark = pytest.mark.fast

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def identities(db: Database, connection_id: int) -> dict[str, ExternalIdentity]:
    with db.session_scope() as session:
        rows = session.scalars(
            select(ExternalIdentity).where(ExternalIdentity.connection_id == connection_id)
        )
        return {row.external_id: row for row in rows}


def bookings(db: Database, connection_id: int) -> dict[str, Booking]:
    with db.session_scope() as session:
        rows = session.scalars(select(Booking).where(Booking.connection_id == connection_id))
        return {row.external_id: row for row in rows}


def cursor(db: Database, connection_id: int, stream: str) -> str | None:
    with db.session_scope() as session:
        state = session.get(ConnectorState, (connection_id, stream))
        return state.cursor if state else None


def run(
    db: Database, connection_id: int, *, at: datetime = NOW, **options
) -> list[sync.StreamResult]:
    return sync.run_sync(db, connection_id=connection_id, clock=lambda: at, **options)


@pytest.fixture
def connection_id(db: Database, shop: Shop, org: SalesforceSandbox, key_pair: KeyPair) -> int:
    return add_salesforce_connection(db, shop, org, credentials=jwt_credentials(key_pair))


def test_contacts_sync_over_jwt_bearer_and_attach_to_members_by_member_number_and_email(
    db: Database, shop: Shop, org: SalesforceSandbox, connection_id: int
) -> None:
    by_number = add_member(db, shop, "M-500")
    by_email = add_member(db, shop, "M-501", email="kana@example.jp")
    state = org.state
    first = state.insert(
        "Contact",
        {"LastName": "Ito", "Member_Number__c": "M-500"},
        modstamp=NOW - timedelta(hours=1),
    )
    second = state.insert(
        "Contact",
        {"LastName": "Kana", "Email": "KANA@example.jp"},
        modstamp=NOW - timedelta(hours=1),
    )

    (contacts, _bookings) = run(db, connection_id)

    assert contacts.status == "succeeded"
    found = identities(db, connection_id)
    assert (found[first].member_id, found[second].member_id) == (by_number, by_email)


def test_wrong_private_key_fails_the_run_with_an_actionable_message(
    db: Database, shop: Shop, org: SalesforceSandbox
) -> None:
    connection_id = add_salesforce_connection(
        db, shop, org, credentials=jwt_credentials(make_key_pair())
    )

    (contacts, *_rest) = run(db, connection_id)

    assert contacts.status == "failed"
    assert "invalid assertion" in (contacts.error or "")
    assert "certificate" in (contacts.error or "")
    with db.session_scope() as session:
        reason = session.get_one(Connection, connection_id).status_reason
    assert reason is not None and "consumer key" in reason


def test_client_credentials_login_syncs_too(
    db: Database, shop: Shop, org: SalesforceSandbox
) -> None:
    org.state.register_app("cc-app", consumer_secret="cc-secret", run_as="integration@shop")
    connection_id = add_salesforce_connection(
        db, shop, org, credentials={"consumer_key": "cc-app", "consumer_secret": "cc-secret"}
    )
    org.state.insert("Contact", {"LastName": "Ueda"}, modstamp=NOW - timedelta(minutes=5))

    (contacts, _bookings) = run(db, connection_id)

    assert contacts.status == "succeeded"
    assert len(identities(db, connection_id)) == 1


def test_incremental_run_rereads_the_lookback_window_and_caps_the_bookmark_at_run_start(
    db: Database, org: SalesforceSandbox, connection_id: int
) -> None:
    state = org.state
    state.insert("Contact", {"LastName": "Old"}, modstamp=NOW - timedelta(hours=2))
    run(db, connection_id)
    assert cursor(db, connection_id, "contacts") == NOW.isoformat()
    later = NOW + timedelta(hours=1)
    # Committed late: its modstamp is before the last bookmark, but within the 600 s lookback.
    late = state.insert("Contact", {"LastName": "Late"}, modstamp=NOW - timedelta(seconds=300))
    too_old = state.insert("Contact", {"LastName": "Lost"}, modstamp=NOW - timedelta(seconds=900))
    # Changed after the run started: left for the next run.
    future = state.insert("Contact", {"LastName": "Next"}, modstamp=later + timedelta(seconds=1))

    (contacts,) = run(db, connection_id, at=later, streams=["contacts"])

    found = identities(db, connection_id)
    assert late in found
    assert too_old not in found
    assert future not in found
    assert cursor(db, connection_id, "contacts") == later.isoformat()
    assert contacts.counts["created"] == 1


def test_large_result_is_read_page_by_page_through_next_records_url_with_a_checkpoint_each(
    db: Database, org: SalesforceSandbox, connection_id: int
) -> None:
    org.state.max_batch_size = 2
    for n in range(5):
        org.state.insert("Contact", {"LastName": f"C{n}"}, modstamp=NOW - timedelta(minutes=50 - n))

    (contacts,) = run(db, connection_id, streams=["contacts"])

    assert contacts.pages == 3
    assert contacts.counts["created"] == 5
    with db.session_scope() as session:
        stored = session.scalars(select(SyncRun).where(SyncRun.stream == "contacts")).one()
        assert stored.pages == 3
        assert stored.cursor_after == NOW.isoformat()
    paths = [c.path for c in org.state.calls if "/query" in c.path]
    assert len(paths) == 3
    assert paths[0].endswith("/queryAll/")
    assert all("/queryAll/01g" in p for p in paths[1:])


def test_deleted_contact_stops_resolving_and_deleted_event_cancels_the_booking(
    db: Database, shop: Shop, org: SalesforceSandbox, connection_id: int, staff_api: Salesforce
) -> None:
    member_id = add_member(db, shop, "M-600")
    contact_id = sobject(staff_api, "Contact").create(
        {"LastName": "Mori", "Member_Number__c": "M-600"}
    )["id"]
    event_id = sobject(staff_api, "Event").create(
        {
            "Subject": "Color",
            "StartDateTime": "2026-12-01T01:00:00.000+0000",
            "EndDateTime": "2026-12-01T02:00:00.000+0000",
            "WhoId": contact_id,
        }
    )["id"]
    start = datetime.now(UTC) + timedelta(seconds=2)
    run(db, connection_id, at=start)
    assert bookings(db, connection_id)[event_id].member_id == member_id

    sobject(staff_api, "Event").delete(event_id)
    sobject(staff_api, "Contact").delete(contact_id)
    run(db, connection_id, at=start + timedelta(seconds=5))

    assert identities(db, connection_id)[contact_id].member_id is None
    assert bookings(db, connection_id)[event_id].status == "cancelled"


def test_events_become_bookings_of_the_contact_s_member(
    db: Database, shop: Shop, org: SalesforceSandbox, connection_id: int
) -> None:
    member_id = add_member(db, shop, "M-700", email="rin@example.jp")
    state = org.state
    who = state.insert(
        "Contact", {"LastName": "Rin", "Email": "rin@example.jp"}, modstamp=NOW - timedelta(hours=1)
    )
    event = state.insert(
        "Event",
        {
            "Subject": "Head spa",
            "Location": "Ginza",
            "StartDateTime": "2026-12-02T05:00:00.000+0000",
            "EndDateTime": "2026-12-02T06:00:00.000+0000",
            "WhoId": who,
        },
        modstamp=NOW - timedelta(hours=1),
    )

    run(db, connection_id)

    booking = bookings(db, connection_id)[event]
    assert booking.member_id == member_id
    assert (booking.service, booking.location, booking.status) == ("Head spa", "Ginza", "confirmed")
    assert booking.start_at == datetime(2026, 12, 2, 5, 0, tzinfo=UTC)


def test_custom_booking_object_is_read_through_its_field_mapping_and_status_map(
    db: Database, shop: Shop, org: SalesforceSandbox, key_pair: KeyPair
) -> None:
    member_id = add_member(db, shop, "M-800")
    org.state.define_object(
        "Booking__c",
        {
            "Start__c": "datetime",
            "End__c": "datetime",
            "Status__c": "string",
            "Menu__c": "string",
            "Stylist__c": "string",
            "Member_Number__c": "string",
        },
    )
    connection_id = add_salesforce_connection(
        db,
        shop,
        org,
        credentials=jwt_credentials(key_pair),
        options={
            "booking": {
                "object": "Booking__c",
                "fields": {
                    "start": "Start__c",
                    "end": "End__c",
                    "status": "Status__c",
                    "service": "Menu__c",
                    "staff": "Stylist__c",
                    "member_number": "Member_Number__c",
                },
                "status_map": {"Booked": "confirmed", "Canceled": "cancelled"},
            }
        },
    )
    fields = {"Start__c": "2026-12-03T00:30:00.000+0000", "Menu__c": "Cut", "Stylist__c": "Abe"}
    booked = org.state.insert(
        "Booking__c",
        {**fields, "Status__c": "Booked", "Member_Number__c": "M-800"},
        modstamp=NOW - timedelta(minutes=30),
    )
    cancelled = org.state.insert(
        "Booking__c",
        {**fields, "Status__c": "Canceled", "Member_Number__c": "M-800"},
        modstamp=NOW - timedelta(minutes=20),
    )
    unmapped = org.state.insert(
        "Booking__c", {**fields, "Status__c": "Waitlist"}, modstamp=NOW - timedelta(minutes=10)
    )

    (_contacts, booking_run) = run(db, connection_id)

    found = bookings(db, connection_id)
    assert (found[booked].status, found[booked].member_id) == ("confirmed", member_id)
    assert (found[booked].service, found[booked].staff) == ("Cut", "Abe")
    assert found[cancelled].status == "cancelled"
    assert unmapped not in found
    assert booking_run.counts["skipped"] == 1


def test_exhausted_api_allocation_pauses_the_connection_until_the_window_frees(
    db: Database, org: SalesforceSandbox, connection_id: int
) -> None:
    org.state.api_limit = 0

    results = run(db, connection_id)

    assert [r.status for r in results] == ["paused"]
    with db.session_scope() as session:
        connection = session.get_one(Connection, connection_id)
        assert connection.status == "paused"
        assert "request limit exceeded" in (connection.status_reason or "").lower()
        assert connection.paused_until is not None
        resume_at = connection.paused_until
        connection.last_sync_started_at = NOW - timedelta(days=1)
        waiting = due_connections(session, now=resume_at - timedelta(minutes=1))
        due = due_connections(session, now=resume_at + timedelta(seconds=1))
    assert connection_id not in [c.id for c in waiting]
    assert connection_id in [c.id for c in due]


def test_server_errors_are_retried_with_backoff_and_the_run_still_succeeds(
    db: Database, org: SalesforceSandbox, connection_id: int
) -> None:
    org.state.insert("Contact", {"LastName": "Oda"}, modstamp=NOW - timedelta(minutes=5))
    org.state.fail_next(503)
    org.state.fail_next(429)

    (contacts,) = run(db, connection_id, streams=["contacts"])

    assert contacts.status == "succeeded"
    assert [c.status for c in org.state.calls[:3]] == [503, 429, 200]


def test_server_errors_beyond_the_retry_budget_fail_the_run_and_keep_the_bookmark(
    db: Database, org: SalesforceSandbox, connection_id: int
) -> None:
    org.state.fail_next(500, count=3)

    (contacts,) = run(db, connection_id, streams=["contacts"])

    assert contacts.status == "failed"
    assert "gave up after 3 tries" in (contacts.error or "")
    assert cursor(db, connection_id, "contacts") is None


def test_expired_session_logs_in_again_once(
    db: Database, org: SalesforceSandbox, connection_id: int
) -> None:
    org.state.token_ttl_seconds = 0
    org.state.insert("Contact", {"LastName": "Sano"}, modstamp=NOW - timedelta(minutes=5))

    (contacts,) = run(db, connection_id, streams=["contacts"])

    assert contacts.status == "failed"
    assert "INVALID_SESSION_ID" in (contacts.error or "")
    assert [c.status for c in org.state.calls] == [401, 401]


def test_since_date_without_a_zone_is_read_as_utc_and_widened_by_the_lookback(
    key_pair: KeyPair,
) -> None:
    connector = SalesforceConnector(
        ConnectionConfig(
            kind="salesforce",
            base_url="https://login.salesforce.com",
            credentials=jwt_credentials(key_pair),
            options={},
        )
    )

    query = connector.soql("contacts", "2026-11-01T00:00:00", now=NOW, full=False)

    assert query is not None
    assert "WHERE SystemModstamp >= 2026-10-31T23:50:00Z" in query
    assert "AND SystemModstamp < 2026-11-20T12:00:00Z ORDER BY SystemModstamp, Id" in query


def test_run_broken_off_mid_way_resumes_from_its_checkpoint_without_losing_or_doubling(
    db: Database, org: SalesforceSandbox, connection_id: int
) -> None:
    org.state.max_batch_size = 2
    ids = [
        org.state.insert("Contact", {"LastName": f"R{n}"}, modstamp=NOW - timedelta(hours=5 - n))
        for n in range(5)
    ]
    # The first batch is read and stored; the next one fails past the retry budget.
    org.state.fail_next(503, count=3, after=1)

    (broken,) = run(db, connection_id, streams=["contacts"])

    assert (broken.status, broken.pages) == ("failed", 1)
    checkpoint = cursor(db, connection_id, "contacts")
    assert checkpoint == (NOW - timedelta(hours=4)).isoformat()
    assert set(identities(db, connection_id)) == set(ids[:2])

    (resumed,) = run(db, connection_id, at=NOW + timedelta(minutes=5), streams=["contacts"])

    assert resumed.status == "succeeded"
    assert set(identities(db, connection_id)) == set(ids)
    assert resumed.counts["created"] == 3
    assert resumed.counts["unchanged"] == 1
