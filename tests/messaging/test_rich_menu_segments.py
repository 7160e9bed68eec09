"""Rich menus by segment: switched in bulk (at most 500 users a request), only when they change."""

from __future__ import annotations

from sqlalchemy import insert, update

from core.clock import utcnow
from core.db import Database
from core.tenancy import Channel
from idlink.models import FriendTag, Tag
from messaging.rich_menus import rich_menus
from messaging.rich_menus.schemas import RichMenuRulesSpec
from messaging.segments import segments
from messaging.segments.schemas import SegmentSpec
from sandbox.line.server import SandboxServer
from tests.factories import ChannelSetup
from tests.idlink.support import create_rich_menu
from tests.messaging import people
from tests.messaging.support import add_followers, api_calls
from tests.waiting import wait_for
from tsunagu.hub import Hub

BULK_LINK = "/v2/bot/richmenu/bulk/link"


def tag_many(db: Database, shop_id: int, friend_ids: list[int], name: str) -> None:
    with db.session_scope() as session:
        session.add(tag := Tag(shop_id=shop_id, name=name))
        session.flush()
        rows = [{"friend_id": f, "tag_id": tag.id, "source": "test"} for f in friend_ids]
        session.execute(insert(FriendTag), rows)


def set_rules(db: Database, channel: ChannelSetup, rules: list[tuple[str, dict, str]]) -> None:
    """Segments (name, rules) and the channel's menu rules for them, in order."""
    with db.session_scope() as session:
        for name, tree, _ in rules:
            spec = SegmentSpec(name=name, rules=tree)
            segments.save(session, shop_id=channel.shop_id, spec=spec, actor="test")
        rich_menus.save_rules(
            session,
            shop_id=channel.shop_id,
            channel=session.get_one(Channel, channel.channel_pk),
            spec=RichMenuRulesSpec(
                channel=channel.channel_id,
                rules=[{"segment": name, "rich_menu_id": menu} for name, _, menu in rules],
            ),
            actor="test",
        )


def sync(db: Database, hub: Hub, channel: ChannelSetup) -> rich_menus.SyncResult:
    with db.session_scope() as session:
        return rich_menus.sync(
            session, channel=session.get_one(Channel, channel.channel_pk), settings=hub.settings
        )


def menu_of(sandbox: SandboxServer, channel: ChannelSetup, user_id: str) -> str | None:
    with sandbox.state.lock:
        friendship = sandbox.state.channel(channel.channel_id).friends.get(user_id)
        return friendship.rich_menu_id if friendship else None


def test_segment_members_get_their_menu_in_bulk_requests_of_at_most_500(
    db: Database, line_sandbox: SandboxServer, hub: Hub, channel: ChannelSetup
) -> None:
    vip_menu = create_rich_menu(line_sandbox, channel, "vip")
    followers = add_followers(db, line_sandbox.state, channel, 1_203)
    vips = list(followers)[:1_100]
    tag_many(db, channel.shop_id, vips, "vip")
    set_rules(db, channel, [("vip", {"tag": "vip"}, vip_menu)])

    first = sync(db, hub, channel)
    # The sandbox logs a call once its response is sent, just after the sync read the answer.
    calls = wait_for(
        lambda: logged if len(logged := api_calls(line_sandbox, channel, BULK_LINK)) >= 3 else None,
        what="the three bulk requests logged",
    )
    second = sync(db, hub, channel)

    sizes = sorted(len(c.request_json()["userIds"]) for c in calls)
    assert sizes == [100, 500, 500]
    assert all(c.status_code == 202 for c in calls)
    assert {menu_of(line_sandbox, channel, followers[f]) for f in vips} == {vip_menu}
    others = [followers[f] for f in followers if f not in set(vips)]
    assert {menu_of(line_sandbox, channel, u) for u in others} == {None}
    assert (first.linked, first.requests) == (1_100, 3)
    # Nothing changed: nothing is sent.
    assert second.requests == 0
    assert len(api_calls(line_sandbox, channel, BULK_LINK)) == 3


def test_menus_follow_friends_between_segments_and_link_status(
    db: Database, line_sandbox: SandboxServer, hub: Hub, channel: ChannelSetup
) -> None:
    vip_menu = create_rich_menu(line_sandbox, channel, "vip")
    buyer_menu = create_rich_menu(line_sandbox, channel, "buyer")
    member_menu = create_rich_menu(line_sandbox, channel, "member")
    with db.session_scope() as session:
        session.execute(
            update(Channel)
            .where(Channel.id == channel.channel_pk)
            .values(member_rich_menu_id=member_menu)
        )
    followers = add_followers(db, line_sandbox.state, channel, 4)
    vip, buyer, member, guest = followers
    people.tag(db, vip, "vip")
    people.tag(db, buyer, "buyer")
    people.tag(db, buyer, "vip")
    people.link_member(db, channel, member)
    set_rules(
        db,
        channel,
        [("buyers", {"tag": "buyer"}, buyer_menu), ("vip", {"tag": "vip"}, vip_menu)],
    )

    sync(db, hub, channel)
    before = {f: menu_of(line_sandbox, channel, followers[f]) for f in followers}
    people.untag(db, vip, "vip")
    people.tag(db, guest, "vip")
    changed = sync(db, hub, channel)
    after = {f: menu_of(line_sandbox, channel, followers[f]) for f in followers}

    # The first matching rule wins; outside every segment, the link-status menu applies.
    assert before == {vip: vip_menu, buyer: buyer_menu, member: member_menu, guest: None}
    assert after == {vip: None, buyer: buyer_menu, member: member_menu, guest: vip_menu}
    assert (changed.linked, changed.unlinked, changed.requests) == (1, 1, 2)


def test_linking_a_friend_in_a_segment_keeps_the_segment_menu(
    db: Database, line_sandbox: SandboxServer, hub: Hub, channel: ChannelSetup
) -> None:
    vip_menu = create_rich_menu(line_sandbox, channel, "vip")
    member_menu = create_rich_menu(line_sandbox, channel, "member")
    with db.session_scope() as session:
        session.execute(
            update(Channel)
            .where(Channel.id == channel.channel_pk)
            .values(member_rich_menu_id=member_menu)
        )
    followers = add_followers(db, line_sandbox.state, channel, 2)
    vip, plain = followers
    people.tag(db, vip, "vip")
    set_rules(db, channel, [("vip", {"tag": "vip"}, vip_menu)])
    people.link_member(db, channel, vip, linked_at=utcnow())
    people.link_member(db, channel, plain, linked_at=utcnow())

    with db.session_scope() as session:
        done = [
            rich_menus.sync_friend(session, friend_id=f, settings=hub.settings)
            for f in (vip, plain)
        ]

    assert done == [f"linked {vip_menu}", f"linked {member_menu}"]
    assert menu_of(line_sandbox, channel, followers[vip]) == vip_menu
    assert menu_of(line_sandbox, channel, followers[plain]) == member_menu
