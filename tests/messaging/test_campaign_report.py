"""A campaign's tracked links and report: clicks redirect and tag, purchases are attributed."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import httpx
from sqlalchemy import func, select

from core.clock import utcnow
from core.db import Database
from core.tenancy import Channel
from idlink.models import Friend, FriendStatus, FriendTag, Tag
from messaging.campaigns import campaigns, reports
from messaging.campaigns.models import Campaign
from messaging.campaigns.schemas import CampaignSpec
from messaging.compose import compose, links
from messaging.compose.compose import Links, TemplateSend
from messaging.compose.models import LinkClick
from messaging.outbox import guardrails
from sandbox.line.server import SandboxServer
from tests.api.admin_support import add_link, add_member, admin_api
from tests.factories import ChannelSetup
from tests.messaging import people
from tests.messaging.support import (
    add_followers,
    open_all_hours,
    received_counts,
    wait_until_states,
)
from tests.waiting import wait_for
from tsunagu.hub import Hub

SALE = "https://shop.example/winter-sale"
TEMPLATE = [{"type": "text", "text": "{{ display_name }}さん、セールです: {{ link:" + SALE + " }}"}]


def _campaign(database: Database, channel: ChannelSetup) -> Campaign:
    spec = CampaignSpec(
        name="winter-sale",
        channel=channel.channel_id,
        kind="purchase",
        messages=TEMPLATE,
        click_tag="clicked-winter-sale",
        attribution_days=7,
    )
    with database.session_scope() as session:
        row = session.get_one(Channel, channel.channel_pk)
        campaign = campaigns.save(
            session, shop_id=channel.shop_id, channel=row, spec=spec, actor="test"
        )
        session.expunge(campaign)
        return campaign


def link_in(text: str) -> str:
    """The tracked link in a message's text."""
    found = re.search(r"http\S+/r/[0-9a-f]+", text)
    assert found is not None, text
    return found.group(0)


def _send(database: Database, hub: Hub, channel: ChannelSetup, campaign: Campaign, ids) -> None:
    with database.session_scope() as session:
        send = TemplateSend(
            channel=session.get_one(Channel, channel.channel_pk),
            template=TEMPLATE,
            source=campaign.source,
            links=Links(public_url=hub.settings.public_url, tag=campaign.click_tag),
            due_at=utcnow(),
        )
        compose.plan_template(
            session, send, friend_ids=ids, idempotency_key_for=lambda f: f"{campaign.source}:{f}"
        )


def test_clicks_redirect_tag_once_and_purchases_are_attributed(
    db: Database, hub: Hub, line_sandbox: SandboxServer, channel: ChannelSetup, shop
) -> None:
    open_all_hours(db, channel)
    users = add_followers(db, line_sandbox.state, channel, 3)
    clicker, reader, blocked = sorted(users)
    with db.session_scope() as session:
        for friend_id in users:
            session.get_one(Friend, friend_id).display_name = f"友{friend_id}"
        session.get_one(Friend, blocked).status = FriendStatus.BLOCKED
    members = {f: add_member(db, channel.shop_id, f"M{f}") for f in (clicker, reader)}
    for friend_id, member_id in members.items():
        add_link(db, channel.shop_id, friend_id, member_id)
    campaign = _campaign(db, channel)

    _send(db, hub, channel, campaign, [clicker, reader, blocked])
    _send(db, hub, channel, campaign, [clicker, reader, blocked])  # planned twice: sent once
    wait_until_states(db, {"sent": 2, "suppressed": 1}, source=campaign.source)

    texts = {
        user: [m.message["text"] for m in line_sandbox.state.inbox(user)]
        for user in (users[clicker], users[reader])
    }
    assert all(len(t) == 1 for t in texts.values())
    assert texts[users[reader]][0].startswith(f"友{reader}さん、セールです: ")
    url = link_in(texts[users[clicker]][0])
    assert url.startswith(hub.settings.public_url)
    assert url not in texts[users[reader]][0]  # one code per delivery

    for _ in range(2):
        answer = httpx.get(url, follow_redirects=False, timeout=10)
        assert answer.status_code == 302
        assert answer.headers["location"] == SALE
    assert httpx.get(hub.settings.public_url + "/r/0123456789abcdef").status_code == 404

    with db.session_scope() as session:
        tagged = session.scalars(
            select(FriendTag.friend_id)
            .join(Tag, Tag.id == FriendTag.tag_id)
            .where(Tag.name == "clicked-winter-sale")
        ).all()
        assert tagged == [clicker]
        assert session.scalar(select(func.count()).select_from(LinkClick)) == 2

    now = utcnow()
    people.purchase(
        db, channel.shop_id, members[clicker], total=5000, ordered_at=now + timedelta(days=1)
    )
    people.purchase(
        db, channel.shop_id, members[reader], total=3000, ordered_at=now + timedelta(days=2)
    )
    people.purchase(  # too late
        db, channel.shop_id, members[reader], total=9999, ordered_at=now + timedelta(days=9)
    )
    people.purchase(  # before the message
        db, channel.shop_id, members[clicker], total=1111, ordered_at=now - timedelta(days=1)
    )

    with db.session_scope() as session:
        report = reports.campaign_report(session, campaign=session.merge(campaign))
    assert report.planned == 3
    assert report.sent == 2
    assert report.suppressed == {"friend blocked the account": 1}
    assert (report.clicked, report.clicks) == (1, 2)
    assert report.after_delivery.purchases == 2
    assert report.after_delivery.revenue == {"JPY": Decimal("8000")}
    assert report.after_click.purchases == 1
    assert report.after_click.revenue == {"JPY": Decimal("5000")}

    api = admin_api(db, hub.settings.public_url, shop)
    over_http = api.get(f"/campaigns/{campaign.id}/report").json()
    assert over_http["after_click"] == {"purchases": 1, "revenue": {"JPY": "5000.0000"}}
    sent = api.get("/deliveries", source=campaign.source, state="sent").json()["items"]
    assert sorted(d["friend_id"] for d in sent) == sorted([clicker, reader])


def test_a_late_click_still_counts_but_not_a_purchase_before_it(
    db: Database, hub: Hub, line_sandbox: SandboxServer, channel: ChannelSetup
) -> None:
    open_all_hours(db, channel)
    users = add_followers(db, line_sandbox.state, channel, 1)
    (friend_id,) = users
    member_id = add_member(db, channel.shop_id, "M1")
    add_link(db, channel.shop_id, friend_id, member_id)
    campaign = _campaign(db, channel)
    _send(db, hub, channel, campaign, [friend_id])
    wait_until_states(db, {"sent": 1}, source=campaign.source)
    (message,) = line_sandbox.state.inbox(users[friend_id])
    url = link_in(message.message["text"])
    people.purchase(
        db, channel.shop_id, member_id, total=1000, ordered_at=utcnow() + timedelta(hours=1)
    )
    later = datetime.now(UTC) + timedelta(hours=2)
    with db.session_scope() as session:
        click = links.record_click(session, code=url.rsplit("/", 1)[1], now=later)
        assert click is not None and click.url == SALE
    with db.session_scope() as session:
        report = reports.campaign_report(session, campaign=session.merge(campaign))
    assert report.after_delivery.purchases == 1
    assert report.after_click.purchases == 0


def test_an_audience_send_is_reported_and_its_friends_purchases_attributed(
    db: Database, hub: Hub, line_sandbox: SandboxServer, channel: ChannelSetup, shop
) -> None:
    open_all_hours(db, channel)
    users = add_followers(db, line_sandbox.state, channel, 3)
    buyer, reader, opted_out = sorted(users)
    for friend_id in users:
        people.tag(db, friend_id, "vip")
    with db.session_scope() as session:
        guardrails.set_consent(
            session, friend=session.get_one(Friend, opted_out), opted_out=True, source="test"
        )
    member_id = people.link_member(db, channel, buyer)
    api = admin_api(db, hub.settings.public_url, shop)
    assert api.put("/segments/vip", {"name": "vip", "rules": {"tag": "vip"}}).status_code == 200
    spec = {
        "name": "vip-sale",
        "channel": channel.channel_id,
        "kind": "segment",
        "trigger": {"segment": "vip"},
        "messages": [{"type": "text", "text": "VIPセール"}],
        "aggregation_unit": "vip_sale_2026",
    }
    campaign_id = api.put("/campaigns/vip-sale", spec).json()["id"]
    assert api.post(f"/campaigns/{campaign_id}/run", {}).status_code == 200
    wait_for(
        lambda: api.get(f"/campaigns/{campaign_id}").json()["status"] == "completed",
        what="the audience send to complete",
    )
    assert received_counts(line_sandbox.state, channel) == {users[buyer]: 1, users[reader]: 1}
    multicasts = [m.endpoint for u in (buyer, reader) for m in line_sandbox.state.inbox(users[u])]
    assert multicasts == ["multicast", "multicast"]

    people.purchase(
        db, channel.shop_id, member_id, total=4000, ordered_at=utcnow() + timedelta(hours=3)
    )
    report = api.get(f"/campaigns/{campaign_id}/report").json()
    assert (report["planned"], report["sent"]) == (3, 2)
    assert report["suppressed"] == {"friend opted out of messages": 1}
    assert report["after_delivery"] == {"purchases": 1, "revenue": {"JPY": "4000.0000"}}
