"""``tsunagu campaign run``: a segment campaign sent now, followed to the end with progress."""

from __future__ import annotations

from core.db import Database
from core.tenancy import Channel
from messaging.campaigns import campaigns
from messaging.campaigns.schemas import CampaignSpec
from messaging.segments import segments
from messaging.segments.schemas import SegmentSpec
from sandbox.line.server import SandboxServer
from tests.cli_runner import Cli
from tests.factories import ChannelSetup
from tests.messaging.people import tag
from tests.messaging.support import add_followers, open_all_hours, received_counts


def test_a_segment_campaign_runs_now_and_each_member_receives_it_once(
    cli: Cli, db: Database, line_sandbox: SandboxServer, channel: ChannelSetup
) -> None:
    open_all_hours(db, channel)
    users = add_followers(db, line_sandbox.state, channel, 5)
    vip = sorted(users)[:3]
    for friend_id in vip:
        tag(db, friend_id, "vip")
    with db.session_scope() as session:
        segments.save(
            session,
            shop_id=channel.shop_id,
            spec=SegmentSpec(name="vip", rules={"tag": "vip"}),
            actor="test",
        )
        campaigns.save(
            session,
            shop_id=channel.shop_id,
            channel=session.get_one(Channel, channel.channel_pk),
            spec=CampaignSpec(
                name="vip-sale",
                channel=channel.channel_id,
                kind="segment",
                trigger={"segment": "vip"},
                messages=[{"type": "text", "text": "VIP限定セール"}],
            ),
            actor="test",
        )

    env = {"TSUNAGU_LINE_API_URL": line_sandbox.url}
    result = cli("campaign", "run", "vip-sale", "--shop", channel.shop_slug, extra_env=env)

    assert result.exit_code == 0, result.output
    assert "sent 3" in result.output
    assert received_counts(line_sandbox.state, channel) == {users[f]: 1 for f in vip}
    again = cli("campaign", "run", "vip-sale", "--shop", channel.shop_slug, extra_env=env)
    assert again.exit_code == 1
    assert "only a draft or scheduled campaign" in " ".join(again.output.split())
    assert received_counts(line_sandbox.state, channel) == {users[f]: 1 for f in vip}


def test_a_triggered_campaign_is_not_run(cli: Cli, db: Database, channel: ChannelSetup) -> None:
    with db.session_scope() as session:
        campaigns.save(
            session,
            shop_id=channel.shop_id,
            channel=session.get_one(Channel, channel.channel_pk),
            spec=CampaignSpec(
                name="thanks",
                channel=channel.channel_id,
                kind="purchase",
                messages=[{"type": "text", "text": "ありがとう"}],
            ),
            actor="test",
        )
    result = cli("campaign", "run", "thanks", "--shop", channel.shop_slug)
    assert result.exit_code == 1
    assert "activate it instead" in result.output
