"""Polling a reservation system's iCal feed: ETags, UID/SEQUENCE diffs, removals, zones."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from commerce import sync
from commerce.connections import create_connection
from commerce.models import Booking
from connectors.reservations import icalendar
from core.db import Database
from core.tenancy import Shop
from sandbox.reservations.ical import FeedEvent, ICalFeedServer
from tests.connectors.reservations.conftest import add_member

pytestmark = pytest.mark.fast

NOW = datetime(2026, 11, 20, 3, 0, tzinfo=UTC)


@pytest.fixture
def feed() -> Iterator[ICalFeedServer]:
    server = ICalFeedServer().start()
    yield server
    server.stop()


@pytest.fixture
def connection_id(db: Database, shop: Shop, feed: ICalFeedServer) -> int:
    with db.session_scope() as session:
        return create_connection(
            session,
            shop=session.get_one(Shop, shop.id),
            kind="ical",
            name=f"salon-{secrets.token_hex(3)}",
            base_url=feed.url_of("salon"),
            credentials={},
        ).id


def poll(db: Database, connection_id: int, minutes: int = 0) -> sync.StreamResult:
    (result,) = sync.run_sync(
        db, connection_id=connection_id, clock=lambda: NOW + timedelta(minutes=minutes)
    )
    return result


def stored(db: Database, connection_id: int) -> dict[str, Booking]:
    with db.session_scope() as session:
        rows = session.scalars(select(Booking).where(Booking.connection_id == connection_id))
        return {row.external_id: row for row in rows}


def test_first_poll_creates_bookings_in_their_zones_attached_by_attendee_email(
    db: Database, shop: Shop, feed: ICalFeedServer, connection_id: int
) -> None:
    member_id = add_member(db, shop, "M-1000", email="yui@example.jp")
    feed.state.put(
        "salon",
        FeedEvent(
            "floating@salon",
            "20261201T100000",
            "20261201T110000",
            summary="Cut, shampoo",
            attendee_email="YUI@example.jp",
        ),
    )
    feed.state.put("salon", FeedEvent("utc@salon", "20261202T010000Z"))
    feed.state.put("salon", FeedEvent("ny@salon", "20261203T090000", tzid="America/New_York"))

    result = poll(db, connection_id)

    assert result.counts["created"] == 3
    bookings = stored(db, connection_id)
    floating = bookings["floating@salon"]
    assert floating.start_at == datetime(2026, 12, 1, 1, 0, tzinfo=UTC)
    assert (floating.member_id, floating.service) == (member_id, "Cut, shampoo")
    assert bookings["utc@salon"].start_at == datetime(2026, 12, 2, 1, 0, tzinfo=UTC)
    assert bookings["ny@salon"].start_at == datetime(2026, 12, 3, 14, 0, tzinfo=UTC)


def test_unchanged_feed_answers_304_and_the_poll_changes_nothing(
    db: Database, feed: ICalFeedServer, connection_id: int
) -> None:
    feed.state.put("salon", FeedEvent("a@salon", "20261201T100000"))
    poll(db, connection_id)

    again = poll(db, connection_id, minutes=15)

    assert again.status == "succeeded"
    assert again.pages == 0
    assert [r.status for r in feed.state.requests] == [200, 304]
    assert feed.state.requests[1].if_none_match is not None


def test_higher_sequence_moves_the_booking_and_untouched_events_are_not_rewritten(
    db: Database, feed: ICalFeedServer, connection_id: int
) -> None:
    feed.state.put("salon", FeedEvent("moved@salon", "20261201T100000", sequence=0))
    feed.state.put("salon", FeedEvent("kept@salon", "20261205T100000"))
    poll(db, connection_id)

    feed.state.put("salon", FeedEvent("moved@salon", "20261208T150000", sequence=1))
    result = poll(db, connection_id, minutes=15)

    assert +result.counts == {"updated": 1}
    assert stored(db, connection_id)["moved@salon"].start_at == datetime(
        2026, 12, 8, 6, 0, tzinfo=UTC
    )


def test_event_gone_from_the_feed_cancels_its_booking_and_keeps_its_member(
    db: Database, shop: Shop, feed: ICalFeedServer, connection_id: int
) -> None:
    member_id = add_member(db, shop, "M-1001", email="mio@example.jp")
    feed.state.put(
        "salon", FeedEvent("gone@salon", "20261201T100000", attendee_email="mio@example.jp")
    )
    feed.state.put("salon", FeedEvent("off@salon", "20261202T100000"))
    poll(db, connection_id)

    feed.state.remove("salon", "gone@salon")
    feed.state.put(
        "salon", FeedEvent("off@salon", "20261202T100000", sequence=1, status="CANCELLED")
    )
    poll(db, connection_id, minutes=15)

    bookings = stored(db, connection_id)
    gone = bookings["gone@salon"]
    assert (gone.status, gone.member_id) == ("cancelled", member_id)
    assert gone.start_at == datetime(2026, 12, 1, 1, 0, tzinfo=UTC)
    assert bookings["off@salon"].status == "cancelled"


def test_folded_lines_quoted_parameters_and_escapes_are_read_as_written() -> None:
    text = (
        "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nUID:x@salon\r\n"
        'ATTENDEE;CN="Sato, Hanako";ROLE=REQ-PARTICIPANT:mailto:hanako.sato@exam\r\n'
        " ple.jp\r\nSUMMARY:Cut\\, color\\; treatment\\nnotes\r\n"
        "BEGIN:VALARM\r\nTRIGGER:-PT1H\r\nEND:VALARM\r\n"
        "DTSTART;VALUE=DATE:20261201\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    )

    (event,) = icalendar.events(text)

    attendee = event.first("ATTENDEE")
    assert attendee is not None
    assert attendee.params["CN"] == "Sato, Hanako"
    assert attendee.value == "mailto:hanako.sato@example.jp"
    summary = event.first("SUMMARY")
    assert summary is not None
    assert icalendar.unescape(summary.value) == "Cut, color; treatment\nnotes"
    assert event.first("TRIGGER") is None
    start = event.first("DTSTART")
    assert start is not None
    assert icalendar.to_datetime(start, default_zone="Asia/Tokyo") == datetime(
        2026, 11, 30, 15, 0, tzinfo=UTC
    )
