"""A segment delivery reaches exactly the segment as it was when the delivery started."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from core.clock import utcnow
from core.db import Database
from core.tenancy import Channel
from messaging.campaigns import campaigns, segment_deliveries
from messaging.campaigns.models import Campaign, CampaignKind, CampaignStatus
from messaging.campaigns.schemas import CampaignSpec
from messaging.outbox.models import Delivery
from messaging.segments import segments
from messaging.segments.schemas import SegmentSpec
from sandbox.line.server import SandboxServer
from tests.factories import ChannelSetup
from tests.messaging import people
from tests.messaging.support import add_followers, open_all_hours, received_counts
from tests.waiting import wait_for
from tsunagu.hub import Hub

SALE = [{"type": "text", "text": "{{ display_name }}さん、VIPセールのご案内です"}]


@pytest.fixture
def followers(db: Database, line_sandbox: SandboxServer, channel: ChannelSetup) -> dict[int, str]:
    """Six followers, the first three tagged ``vip``: friend id → LINE user id."""
    open_all_hours(db, channel)
    followers = add_followers(db, line_sandbox.state, channel, 6)
    for friend_id in list(followers)[:3]:
        people.tag(db, friend_id, "vip")
    return followers


def schedule(db: Database, channel: ChannelSetup, at: datetime, name: str = "vip sale") -> int:
    """The segment ``vip`` and a campaign to it scheduled at ``at``; returns the campaign id."""
    with db.session_scope() as session:
        segments.save(
            session,
            shop_id=channel.shop_id,
            spec=SegmentSpec(name="vip", rules={"tag": "vip"}),
            actor="test",
        )
        spec = CampaignSpec(
            name=name,
            channel=channel.channel_id,
            kind=CampaignKind.SEGMENT,
            trigger={"segment": "vip"},
            messages=SALE,
            scheduled_at=at,
        )
        campaign = campaigns.save(
            session,
            shop_id=channel.shop_id,
            channel=session.get_one(Channel, channel.channel_pk),
            spec=spec,
            actor="test",
        )
        campaigns.set_status(session, campaign=campaign, status=CampaignStatus.SCHEDULED, actor="t")
        return campaign.id


def run(db: Database, hub: Hub, now: datetime | None = None) -> segment_deliveries.RunResult:
    with db.session_scope() as session:
        return segment_deliveries.run(session, settings=hub.settings, now=now)


def campaign_status(db: Database, campaign_id: int) -> str:
    with db.session_scope() as session:
        return session.get_one(Campaign, campaign_id).status


def recipients(db: Database, campaign_id: int) -> set[int]:
    with db.session_scope() as session:
        return set(
            session.scalars(
                select(Delivery.friend_id).where(Delivery.source == f"campaign:{campaign_id}")
            )
        )


def test_a_scheduled_delivery_reaches_exactly_the_segment_once(
    db: Database,
    line_sandbox: SandboxServer,
    hub: Hub,
    channel: ChannelSetup,
    followers: dict[int, str],
) -> None:
    people.set_friend(db, next(iter(followers)), display_name="花子")
    campaign_id = schedule(db, channel, utcnow() - timedelta(seconds=1))

    run(db, hub)

    vip_users = [followers[f] for f in list(followers)[:3]]
    # The beat task marks it completed once every row is sent.
    wait_for(
        lambda: campaign_status(db, campaign_id) == CampaignStatus.COMPLETED,
        timeout=30,
        what="the campaign to complete",
    )
    assert received_counts(line_sandbox.state, channel) == dict.fromkeys(vip_users, 1)
    assert people.texts_received(line_sandbox.state, channel, vip_users[0]) == [
        "花子さん、VIPセールのご案内です"
    ]


def test_nothing_starts_before_its_time(
    db: Database, hub: Hub, channel: ChannelSetup, followers: dict[int, str]
) -> None:
    at = utcnow() + timedelta(hours=1)
    campaign_id = schedule(db, channel, at)

    early = run(db, hub, now=at - timedelta(seconds=1))
    status_before = campaign_status(db, campaign_id)
    on_time = run(db, hub, now=at)

    assert early.started == {}
    assert status_before == CampaignStatus.SCHEDULED
    assert on_time.started[campaign_id].planned == 3
    assert campaign_status(db, campaign_id) == CampaignStatus.RUNNING
    assert recipients(db, campaign_id) == set(list(followers)[:3])


def test_a_friend_who_joins_the_segment_after_the_start_gets_nothing(
    db: Database,
    line_sandbox: SandboxServer,
    hub: Hub,
    channel: ChannelSetup,
    followers: dict[int, str],
) -> None:
    at = utcnow() + timedelta(hours=1)
    campaign_id = schedule(db, channel, at)
    run(db, hub, now=at)
    latecomer = list(followers)[3]

    people.tag(db, latecomer, "vip")
    again = run(db, hub, now=at + timedelta(minutes=5))

    assert again.started == {}
    assert recipients(db, campaign_id) == set(list(followers)[:3])
    assert followers[latecomer] not in received_counts(line_sandbox.state, channel)


def test_a_delivery_started_twice_is_sent_once(
    db: Database,
    line_sandbox: SandboxServer,
    hub: Hub,
    channel: ChannelSetup,
    followers: dict[int, str],
) -> None:
    campaign_id = schedule(db, channel, utcnow() - timedelta(seconds=1))
    with db.session_scope() as session:
        campaign = session.get_one(Campaign, campaign_id)
        first = segment_deliveries.start(session, campaign=campaign, settings=hub.settings)
    with db.session_scope() as session:
        campaign = session.get_one(Campaign, campaign_id)
        second = segment_deliveries.start(session, campaign=campaign, settings=hub.settings)

    vip_users = [followers[f] for f in list(followers)[:3]]
    wait_for(
        lambda: received_counts(line_sandbox.state, channel) == dict.fromkeys(vip_users, 1),
        timeout=30,
        what="each vip to receive the sale",
    )
    assert first is not None and second is not None
    assert (first.planned, second.planned, second.duplicate) == (3, 0, True)


def test_a_campaign_to_an_unknown_segment_is_refused_when_saved(
    db: Database, channel: ChannelSetup
) -> None:
    spec = CampaignSpec(
        name="nobody",
        channel=channel.channel_id,
        kind=CampaignKind.SEGMENT,
        trigger={"segment": "no such segment"},
        messages=SALE,
    )
    with db.session_scope() as session, pytest.raises(segments.SegmentNotFound):
        campaigns.save(
            session,
            shop_id=channel.shop_id,
            channel=session.get_one(Channel, channel.channel_pk),
            spec=spec,
            actor="test",
        )
