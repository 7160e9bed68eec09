"""The demo org is something the hub can sync and write back to, as the demo needs."""

from __future__ import annotations

from sqlalchemy import select

from commerce import sync
from commerce.models import Booking
from commerce.writeback import process_writebacks
from core.db import Database
from core.tenancy import Shop
from sandbox.salesforce.demo import DemoContact, start_demo_org
from tests.connectors.reservations.conftest import add_member
from tests.connectors.salesforce.conftest import add_salesforce_connection
from tests.connectors.salesforce.test_writeback import link
from tests.factories import ChannelSetup


def test_demo_org_syncs_bookings_onto_members_and_takes_link_write_backs(
    db: Database, shop: Shop, channel: ChannelSetup
) -> None:
    member_id = add_member(db, shop, "M-2001", email="demo@example.jp")
    org = start_demo_org([DemoContact("M-2001", "Demo", "demo@example.jp", "090-0000-0001")])
    try:
        connection_id = add_salesforce_connection(
            db, shop, org.sandbox, credentials=org.credentials, options=org.options
        )

        results = sync.run_sync(db, connection_id=connection_id)
        _link_id, line_user_id = link(db, channel, member_id)
        written = process_writebacks(db)
    finally:
        org.sandbox.stop()

    assert [r.status for r in results] == ["succeeded", "succeeded"]
    with db.session_scope() as session:
        booking = session.scalars(select(Booking)).one()
        assert (booking.member_id, booking.service) == (member_id, "Counselling")
    assert written.sent == 1
    contact = org.sandbox.state.get("Contact", org.contact_ids["M-2001"])
    assert contact["LINE_User_Id__c"] == line_user_id
