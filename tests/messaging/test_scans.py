"""Lapsed-customer and birthday scans: who they find, once per lapse and once per birthday."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import update

from core.clock import utcnow
from core.db import Database
from idlink.models import Member
from messaging.campaigns import scans
from messaging.campaigns.models import Campaign
from sandbox.line.server import SandboxServer
from tests.factories import ChannelSetup
from tests.messaging.commerce_support import (
    add_connection,
    birth_month_day,
    deliveries_of,
    linked_customer,
    record_purchase,
    start_campaign,
    texts,
    wait_for_texts,
)
from tests.messaging.support import open_all_hours
from tsunagu.hub import Hub

TOKYO = ZoneInfo("Asia/Tokyo")


@pytest.fixture
def store_id(db: Database, channel: ChannelSetup) -> int:
    open_all_hours(db, channel)
    return add_connection(db, channel.shop_id, "shopify")


def scan(db: Database, hub: Hub, campaign: Campaign, now: datetime | None = None) -> int:
    with db.session_scope() as session:
        found = session.get_one(Campaign, campaign.id)
        return scans.scan(
            session, campaign=found, public_url=hub.settings.public_url, now=now
        ).created


def test_a_lapsed_customer_gets_one_message_per_lapse(
    db: Database, hub: Hub, line_sandbox: SandboxServer, channel: ChannelSetup, store_id: int
) -> None:
    lapsed = linked_customer(db, line_sandbox, channel, "L-1")
    regular = linked_customer(db, line_sandbox, channel, "L-2")
    never = linked_customer(db, line_sandbox, channel, "L-3")
    record_purchase(db, store_id, lapsed, "9001", ordered_at=utcnow() - timedelta(days=60))
    record_purchase(db, store_id, regular, "9002", ordered_at=utcnow() - timedelta(days=60))
    record_purchase(db, store_id, regular, "9003", ordered_at=utcnow() - timedelta(days=5))
    campaign = start_campaign(
        db,
        channel,
        name="come back",
        kind="lapsed",
        trigger={"days": 30},
        messages=[{"type": "text", "text": "お久しぶりです"}],
    )

    scan(db, hub, campaign)
    assert wait_for_texts(line_sandbox, channel, lapsed, 1) == ["お久しぶりです"]
    scan(db, hub, campaign)
    # A purchase after the lapse, then a new lapse: one more message.
    back = utcnow() - timedelta(days=35)
    record_purchase(db, store_id, lapsed, "9004", ordered_at=back)
    scan(db, hub, campaign)

    assert wait_for_texts(line_sandbox, channel, lapsed, 2) == ["お久しぶりです"] * 2
    assert texts(line_sandbox, channel, regular) == []
    assert texts(line_sandbox, channel, never) == []
    keys = [d.idempotency_key for d in deliveries_of(db, campaign.source)]
    assert keys[-1] == (
        f"campaign:{campaign.id}:lapsed:{lapsed.friend_id}:{back.astimezone(TOKYO).date()}"
    )
    assert len(keys) == 2


def test_a_cancelled_order_is_no_purchase_for_the_lapse(
    db: Database, hub: Hub, line_sandbox: SandboxServer, channel: ChannelSetup, store_id: int
) -> None:
    customer = linked_customer(db, line_sandbox, channel, "L-4")
    record_purchase(db, store_id, customer, "9101", ordered_at=utcnow() - timedelta(days=60))
    record_purchase(
        db,
        store_id,
        customer,
        "9102",
        ordered_at=utcnow() - timedelta(days=2),
        cancelled_at=utcnow() - timedelta(days=1),
    )
    campaign = start_campaign(
        db,
        channel,
        name="lapsed",
        kind="lapsed",
        trigger={"days": 30},
        messages=[{"type": "text", "text": "お久しぶりです"}],
    )

    scan(db, hub, campaign)

    (delivery,) = deliveries_of(db, campaign.source)
    lapse_began = (utcnow() - timedelta(days=60)).astimezone(TOKYO).date()
    assert delivery.idempotency_key.endswith(f":{customer.friend_id}:{lapse_began}")


def test_birthday_message_on_the_day_in_the_channel_timezone(
    db: Database, hub: Hub, line_sandbox: SandboxServer, channel: ChannelSetup, store_id: int
) -> None:
    today = utcnow().astimezone(TOKYO).date()
    tomorrow = today + timedelta(days=1)
    born_today = linked_customer(
        db, line_sandbox, channel, "B-1", birth_date=today.replace(year=1992).isoformat()
    )
    born_tomorrow = linked_customer(
        db, line_sandbox, channel, "B-2", birth_date=tomorrow.replace(year=1992).isoformat()
    )
    campaign = start_campaign(
        db,
        channel,
        name="birthday",
        kind="birthday",
        trigger={"on": "day"},
        messages=[{"type": "text", "text": "お誕生日おめでとうございます"}],
    )

    scan(db, hub, campaign)
    scan(db, hub, campaign)

    assert wait_for_texts(line_sandbox, channel, born_today, 1) == ["お誕生日おめでとうございます"]
    assert texts(line_sandbox, channel, born_tomorrow) == []
    assert [d.idempotency_key for d in deliveries_of(db, campaign.source)] == [
        f"campaign:{campaign.id}:birthday:{born_today.friend_id}:{today.year}"
    ]


def test_birthday_month_finds_everyone_born_this_month_once(
    db: Database, hub: Hub, line_sandbox: SandboxServer, channel: ChannelSetup
) -> None:
    now = datetime(2027, 3, 10, 3, 0, tzinfo=UTC)
    march = linked_customer(db, line_sandbox, channel, "B-3", birth_date="1992-03-28")
    april = linked_customer(db, line_sandbox, channel, "B-4", birth_date="1992-04-01")
    campaign = start_campaign(
        db,
        channel,
        name="birthday month",
        kind="birthday",
        trigger={"on": "month"},
        messages=[{"type": "text", "text": "今月はお誕生月です"}],
        delay={"at": "10:00"},
    )

    assert scan(db, hub, campaign, now=now) == 1
    assert scan(db, hub, campaign, now=now + timedelta(days=5)) == 0

    (delivery,) = deliveries_of(db, campaign.source)
    assert delivery.friend_id == march.friend_id != april.friend_id
    assert delivery.idempotency_key.endswith(":2027-03")
    # 10:00 on the 1st of the month, Tokyo time: already past, so due at once.
    assert delivery.due_at == datetime(2027, 3, 1, 1, 0, tzinfo=UTC)


def test_29_february_birthdays_are_greeted_on_28_february_in_common_years(
    db: Database, hub: Hub, line_sandbox: SandboxServer, channel: ChannelSetup
) -> None:
    leap = linked_customer(db, line_sandbox, channel, "B-5", birth_date="1992-02-29")
    campaign = start_campaign(
        db,
        channel,
        name="birthday",
        kind="birthday",
        messages=[{"type": "text", "text": "お誕生日おめでとうございます"}],
    )

    assert scan(db, hub, campaign, now=datetime(2027, 2, 27, 3, 0, tzinfo=UTC)) == 0
    assert scan(db, hub, campaign, now=datetime(2027, 2, 28, 3, 0, tzinfo=UTC)) == 1
    assert deliveries_of(db, campaign.source)[0].friend_id == leap.friend_id


def test_members_stored_before_the_derived_column_are_found(
    db: Database, hub: Hub, line_sandbox: SandboxServer, channel: ChannelSetup
) -> None:
    older = linked_customer(db, line_sandbox, channel, "B-6", birth_date="1985-07-07")
    with db.session_scope() as session:
        session.execute(update(Member).values(birth_month_day=None))
    campaign = start_campaign(
        db,
        channel,
        name="birthday",
        kind="birthday",
        messages=[{"type": "text", "text": "お誕生日おめでとうございます"}],
    )

    assert scan(db, hub, campaign, now=datetime(2027, 7, 7, 3, 0, tzinfo=UTC)) == 1
    assert birth_month_day(db, older.member_id) == "07-07"
