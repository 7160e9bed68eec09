"""Writing LINE links back onto Salesforce contacts: batched, coalesced, retried, and never
holding up the link itself."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from commerce.models import Connection
from commerce.writeback import CrmWriteback, process_writebacks, summary
from config import Settings
from core.db import Database
from core.tenancy import Channel, Shop
from idlink import friends, members, service
from idlink.members import MemberFields
from idlink.models import LinkMethod, Member, MemberLink
from jobs.celery_app import beat_schedule
from sandbox.salesforce.server import SalesforceSandbox
from tests.connectors.reservations.conftest import add_member
from tests.connectors.salesforce.conftest import KeyPair, add_salesforce_connection, jwt_credentials
from tests.factories import ChannelSetup
from tsunagu.hub import Hub


@pytest.fixture
def connection_id(db: Database, shop: Shop, org: SalesforceSandbox, key_pair: KeyPair) -> int:
    return add_salesforce_connection(
        db, shop, org, credentials=jwt_credentials(key_pair), options={"writeback": True}
    )


def link(db: Database, channel: ChannelSetup, member_id: int) -> tuple[int, str]:
    """Link a new friend to the member through idlink, as the LIFF flow does."""
    line_user_id = "U" + secrets.token_hex(16)
    with db.session_scope() as session:
        line_channel = session.get_one(Channel, channel.channel_pk)
        friend = friends.get_or_create_friend(
            session, channel=line_channel, line_user_id=line_user_id
        )
        created = service.link_member(
            session,
            channel=line_channel,
            friend=friend,
            member=session.get_one(Member, member_id),
            method=LinkMethod.LIFF,
            actor="test",
            now=datetime.now(UTC),
        )
        return created.id, line_user_id


def unlink(db: Database, link_id: int) -> None:
    with db.session_scope() as session:
        service.unlink(
            session,
            link=session.get_one(MemberLink, link_id),
            actor="test",
            reason="member asked",
            now=datetime.now(UTC),
        )


def contact(org: SalesforceSandbox, member_number: str) -> dict:
    (found,) = [
        r for r in org.state.records("Contact") if r.get("Member_Number__c") == member_number
    ]
    return found


def outbox(db: Database) -> list[CrmWriteback]:
    with db.session_scope() as session:
        return list(session.scalars(select(CrmWriteback).order_by(CrmWriteback.id)))


def composite_calls(org: SalesforceSandbox) -> list[int]:
    return [c.status for c in org.state.calls if "/composite/sobjects/Contact/" in c.path]


def test_linking_a_friend_writes_its_line_user_id_onto_the_contact_by_member_number(
    db: Database,
    hub: Hub,
    shop: Shop,
    channel: ChannelSetup,
    org: SalesforceSandbox,
    connection_id: int,
) -> None:
    write_back_links = hub.celery.tasks["connectors.writeback"]
    member_id = add_member(db, shop, "M-900")
    org.state.insert("Contact", {"LastName": "Kudo", "Member_Number__c": "M-900"})
    _link_id, line_user_id = link(db, channel, member_id)

    sent = write_back_links()

    assert sent == 1
    written = contact(org, "M-900")
    assert (written["LINE_User_Id__c"], written["LINE_Linked__c"]) == (line_user_id, True)
    (row,) = outbox(db)
    assert (row.state, row.change, row.crm_record_id) == ("sent", "linked", written["Id"])
    assert write_back_links() == 0


def test_link_then_unlink_before_a_flush_sends_only_the_unlink(
    db: Database, shop: Shop, channel: ChannelSetup, org: SalesforceSandbox, connection_id: int
) -> None:
    member_id = add_member(db, shop, "M-901")
    org.state.insert("Contact", {"LastName": "Ono", "Member_Number__c": "M-901"})
    link_id, _ = link(db, channel, member_id)
    unlink(db, link_id)

    result = process_writebacks(db)

    assert (result.sent, result.superseded) == (1, 1)
    written = contact(org, "M-901")
    assert (written["LINE_User_Id__c"], written["LINE_Linked__c"]) == (None, False)
    assert composite_calls(org) == [200]
    assert sorted(r.state for r in outbox(db)) == ["sent", "superseded"]


def test_many_link_changes_go_in_collection_requests_of_at_most_200(
    db: Database, shop: Shop, channel: ChannelSetup, org: SalesforceSandbox, connection_id: int
) -> None:
    numbers = [f"B-{n:03d}" for n in range(201)]
    for number in numbers:
        org.state.insert("Contact", {"LastName": number, "Member_Number__c": number})
    with db.session_scope() as session:
        line_channel = session.get_one(Channel, channel.channel_pk)
        for number in numbers:
            member = members.create_member(
                session, shop_id=shop.id, member_number=number, fields=MemberFields(), actor="t"
            )
            friend = friends.get_or_create_friend(
                session, channel=line_channel, line_user_id="U" + secrets.token_hex(16)
            )
            service.link_member(
                session,
                channel=line_channel,
                friend=friend,
                member=member,
                method=LinkMethod.LIFF,
                actor="test",
                now=datetime.now(UTC),
            )

    result = process_writebacks(db)

    assert result.sent == 201
    assert composite_calls(org) == [200, 200]


def test_link_commits_while_salesforce_fails_and_is_written_back_after_it_recovers(
    db: Database, shop: Shop, channel: ChannelSetup, org: SalesforceSandbox, connection_id: int
) -> None:
    member_id = add_member(db, shop, "M-902")
    org.state.insert("Contact", {"LastName": "Abe", "Member_Number__c": "M-902"})
    org.state.fail_next(503, count=3)

    link_id, line_user_id = link(db, channel, member_id)
    first = process_writebacks(db)

    with db.session_scope() as session:
        assert session.get_one(MemberLink, link_id).unlinked_at is None
    assert (first.sent, first.retrying) == (0, 1)
    (row,) = outbox(db)
    assert (row.state, row.attempts) == ("pending", 1)
    assert "503" in (row.last_error or "")
    assert process_writebacks(db).sent == 0

    later = process_writebacks(db, now=row.next_attempt_at + timedelta(seconds=1))

    assert later.sent == 1
    assert contact(org, "M-902")["LINE_User_Id__c"] == line_user_id


def test_member_without_a_contact_fails_with_salesforce_s_reason_and_is_not_retried(
    db: Database, shop: Shop, channel: ChannelSetup, org: SalesforceSandbox, connection_id: int
) -> None:
    link(db, channel, add_member(db, shop, "M-903"))

    result = process_writebacks(db)

    assert result.failed == 1
    (row,) = outbox(db)
    assert row.state == "failed"
    with db.session_scope() as session:
        assert summary(session, connection_id=connection_id) == {"failed": 1}
    assert "REQUIRED_FIELD_MISSING" in (row.last_error or "")
    assert process_writebacks(db, now=datetime.now(UTC) + timedelta(days=1)).failed == 0


def test_exhausted_api_allocation_keeps_changes_pending_and_pauses_the_connection(
    db: Database, shop: Shop, channel: ChannelSetup, org: SalesforceSandbox, connection_id: int
) -> None:
    org.state.insert("Contact", {"LastName": "Iida", "Member_Number__c": "M-904"})
    link(db, channel, add_member(db, shop, "M-904"))
    org.state.api_limit = 0

    result = process_writebacks(db)

    assert result.sent == 0
    (row,) = outbox(db)
    assert (row.state, row.attempts) == ("pending", 0)
    with db.session_scope() as session:
        connection = session.get_one(Connection, connection_id)
        assert connection.status == "paused"
        assert connection.paused_until == row.next_attempt_at
    org.state.api_limit = 100
    assert process_writebacks(db).sent == 0
    assert process_writebacks(db, now=row.next_attempt_at + timedelta(seconds=1)).sent == 1


def test_connections_without_writeback_write_nothing(
    db: Database, shop: Shop, channel: ChannelSetup, org: SalesforceSandbox, key_pair: KeyPair
) -> None:
    add_salesforce_connection(db, shop, org, credentials=jwt_credentials(key_pair))
    link(db, channel, add_member(db, shop, "M-905"))

    assert process_writebacks(db).sent == 0
    assert outbox(db) == []


def test_an_older_change_waiting_out_a_backoff_never_overwrites_a_newer_one(
    db: Database, shop: Shop, channel: ChannelSetup, org: SalesforceSandbox, connection_id: int
) -> None:
    member_id = add_member(db, shop, "M-906")
    org.state.insert("Contact", {"LastName": "Hara", "Member_Number__c": "M-906"})
    link_id, _ = link(db, channel, member_id)
    org.state.fail_next(503, count=3)
    process_writebacks(db)
    (linked_row,) = outbox(db)

    unlink(db, link_id)
    now_result = process_writebacks(db)
    later_result = process_writebacks(db, now=linked_row.next_attempt_at + timedelta(seconds=1))

    assert (now_result.sent, now_result.superseded) == (1, 1)
    assert later_result.sent == 0
    assert [(r.change, r.state) for r in outbox(db)] == [
        ("linked", "superseded"),
        ("unlinked", "sent"),
    ]
    assert contact(org, "M-906")["LINE_Linked__c"] is False


def test_write_back_is_on_the_beat_schedule(settings: Settings) -> None:
    entry = beat_schedule(settings)["connectors.writeback"]

    assert entry["task"] == "connectors.writeback"
    assert entry["schedule"] == settings.connector_schedule_interval_seconds
