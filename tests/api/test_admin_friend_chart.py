"""The customer chart through the admin API: a friend's member and timeline, and hand tagging."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
from sqlalchemy import select

from core.audit import AuditLog
from core.db import Database
from core.tenancy import Channel, Shop
from idlink import friends
from idlink.models import Friend, MemberLink
from messaging.compose.models import LinkClick, TrackedLink
from messaging.outbox import service as messaging_service
from staff.models import Role
from tests.api.admin_support import add_friend, add_member, admin_api
from tests.console.support import add_staff
from tests.factories import ChannelSetup, make_shop
from tests.messaging import people


def _at(day: int, hour: int = 9) -> datetime:
    return datetime(2026, 3, day, hour, tzinfo=UTC)


def chart_friend(db: Database, shop: Shop, channel: ChannelSetup) -> int:
    """A linked friend with a message, a delivery, a purchase and a booking on distinct days."""
    friend_id = add_friend(db, channel.channel_pk, "U" + "1" * 32, display_name="佐藤 花子")
    member_id = add_member(db, shop.id, "M-1001", name="佐藤 花子")
    people_link(db, channel, friend_id, member_id)
    with db.session_scope() as session:
        friend = session.get_one(Friend, friend_id)
        friends.record_message(
            session,
            friend=friend,
            direction="in",
            message={"id": "m1", "type": "text", "text": "予約できますか"},
            occurred_at=_at(2),
        )
        messaging_service.plan(
            session,
            channel=session.get_one(Channel, channel.channel_pk),
            recipients=[friend_id],
            messages=[{"type": "text", "text": "ご来店ありがとうございます"}],
            idempotency_key_for=lambda f: f"test:{f}",
            due_at=datetime(2099, 1, 1, tzinfo=UTC),
            source="campaign:thanks",
            now=_at(3),
        )
    people.purchase(db, shop.id, member_id, total=5500, ordered_at=_at(1))
    people.booking(db, shop.id, member_id, start_at=_at(4), service="Cut")
    return friend_id


def people_link(db: Database, channel: ChannelSetup, friend_id: int, member_id: int) -> None:
    with db.session_scope() as session:
        session.add(
            MemberLink(
                shop_id=channel.shop_id,
                provider_id=session.get_one(Channel, channel.channel_pk).provider_id,
                friend_id=friend_id,
                member_id=member_id,
                method="staff",
                linked_by="test",
            )
        )


def test_the_chart_shows_the_member_and_a_timeline_newest_first(
    db: Database, shop: Shop, channel: ChannelSetup, hub_url: str
) -> None:
    admin = admin_api(db, hub_url, shop)
    friend_id = chart_friend(db, shop, channel)

    chart = admin.get(f"/friends/{friend_id}/chart").json()

    assert chart["friend"]["profile"]["display_name"] == "佐藤 花子"
    assert chart["member"]["member_number"] == "M-1001"
    assert chart["member"]["name"] == "佐藤 花子"
    kinds = [(e["kind"], e["action"] or e["text"]) for e in chart["timeline"]["items"]]
    assert kinds == [
        ("link", "M-1001"),  # linked now, after the March history below
        ("booking", "Cut"),
        ("delivery", "ご来店ありがとうございます"),
        ("message", "予約できますか"),
        ("purchase", "#1001 5,500 JPY"),
        ("follow", "followed"),  # in January, as the friend was added
    ]
    assert chart["timeline"]["items"][0]["detail"]["member_number"] == "M-1001"
    delivery = chart["timeline"]["items"][2]
    assert (delivery["source"], delivery["direction"]) == ("campaign:thanks", "out")


def test_the_timeline_pages_through_every_entry_once(
    db: Database, shop: Shop, channel: ChannelSetup, hub_url: str
) -> None:
    admin = admin_api(db, hub_url, shop)
    friend_id = chart_friend(db, shop, channel)

    seen, cursor = [], None
    while True:
        params = {"limit": 1} | ({"cursor": cursor} if cursor else {})
        timeline = admin.get(f"/friends/{friend_id}/chart", **params).json()["timeline"]
        seen += [(e["kind"], e["id"]) for e in timeline["items"]]
        cursor = timeline["next_cursor"]
        if cursor is None:
            break

    assert [k for k, _ in seen] == [
        "link",
        "booking",
        "delivery",
        "message",
        "purchase",
        "follow",
    ]


def test_tagging_through_the_api_is_audited_with_the_token_and_shows_on_the_chart(
    db: Database, shop: Shop, channel: ChannelSetup, hub_url: str
) -> None:
    admin = admin_api(db, hub_url, shop, name="crm")
    friend_id = add_friend(db, channel.channel_pk, "U" + "2" * 32)

    added = admin.post(f"/friends/{friend_id}/tags", {"name": " vip "})
    removed = httpx.delete(
        f"{admin.base_url}/friends/{friend_id}/tags/vip", headers=admin.headers, timeout=10
    )
    chart = admin.get(f"/friends/{friend_id}/chart").json()

    assert added.status_code == 201 and added.json()["tags"] == ["vip"]
    assert removed.status_code == 200 and removed.json()["tags"] == []
    with db.session_scope() as session:
        actions = session.scalars(select(AuditLog.action).order_by(AuditLog.id)).all()
    assert actions == ["friend.tag_added", "friend.tag_removed"]
    changes = [(e["kind"], e["action"], e["actor"]) for e in chart["timeline"]["items"]]
    assert changes == [
        ("tag", "friend.tag_removed", "token:crm"),
        ("tag", "friend.tag_added", "token:crm"),
        ("follow", "followed", None),
    ]


def test_another_shops_friend_has_no_chart(
    db: Database, shop: Shop, channel: ChannelSetup, hub_url: str
) -> None:
    friend_id = add_friend(db, channel.channel_pk, "U" + "3" * 32)
    other = admin_api(db, hub_url, make_shop(db))

    assert other.get(f"/friends/{friend_id}/chart").status_code == 404
    assert other.post(f"/friends/{friend_id}/tags", {"name": "x"}).status_code == 404


def test_notes_through_the_api_are_on_the_chart_and_only_their_author_edits_them(
    db: Database, shop: Shop, channel: ChannelSetup, hub_url: str
) -> None:
    crm_sync = admin_api(db, hub_url, shop, name="crm")
    other = admin_api(db, hub_url, shop, name="other")
    friend_id = add_friend(db, channel.channel_pk, "U" + "4" * 32)

    added = crm_sync.post(f"/friends/{friend_id}/notes", {"body": "VIP顧客"})
    note_id = added.json()["id"]
    pinned = other.patch(f"/friends/{friend_id}/notes/{note_id}", {"pinned": True})
    refused = other.patch(f"/friends/{friend_id}/notes/{note_id}", {"body": "x"})
    chart = crm_sync.get(f"/friends/{friend_id}/chart").json()

    assert added.status_code == 201 and added.json()["author"] == "token:crm"
    assert pinned.status_code == 200 and pinned.json()["pinned"] is True
    assert refused.status_code == 403 and refused.json()["error"] == "NotTheAuthor"
    assert [(n["body"], n["pinned"]) for n in chart["notes"]] == [("VIP顧客", True)]


def test_the_owner_is_set_through_the_api_and_shown_on_the_chart(
    db: Database, shop: Shop, channel: ChannelSetup, hub_url: str
) -> None:
    admin = admin_api(db, hub_url, shop)
    friend_id = add_friend(db, channel.channel_pk, "U" + "5" * 32)
    add_staff(db, shop, "aoi@example.jp", Role.OPERATOR)

    unknown = httpx.put(
        f"{admin.base_url}/friends/{friend_id}/owner",
        json={"email": "nobody@example.jp"},
        headers=admin.headers,
        timeout=10,
    )
    assigned = admin.put(f"/friends/{friend_id}/owner", {"email": "aoi@example.jp"})

    assert unknown.status_code == 400 and unknown.json()["error"] == "NotShopStaff"
    assert assigned.status_code == 200 and assigned.json() == {"email": "aoi@example.jp"}
    assert admin.get(f"/friends/{friend_id}/chart").json()["owner"] == "aoi@example.jp"


def test_the_chart_sums_up_purchases_bookings_to_come_and_consent(
    db: Database, shop: Shop, channel: ChannelSetup, hub_url: str
) -> None:
    admin = admin_api(db, hub_url, shop)
    friend_id = chart_friend(db, shop, channel)  # its booking (March 2026) is past
    member_id = add_member(db, shop.id, "M-1002")
    people_link(db, channel, add_friend(db, channel.channel_pk, "U" + "2" * 32), member_id)
    people.booking(db, shop.id, member_id, start_at=datetime(2099, 5, 1, tzinfo=UTC), service="X")
    withdrawn = admin.post(
        f"/friends/{friend_id}/consents",
        {"purpose": "marketing", "granted": False, "source": "staff"},
    )

    summary = admin.get(f"/friends/{friend_id}/chart").json()["summary"]

    assert withdrawn.status_code == 201, withdrawn.text
    assert summary["purchases"]["count"] == 1
    assert summary["purchases"]["totals"] == [{"currency": "JPY", "amount": "5500.0000"}]
    assert summary["purchases"]["last"]["name"] == "#1001"
    assert summary["upcoming_bookings"] == []  # another member's booking is not theirs
    assert summary["rich_menu"] is None
    consent = {c["purpose"]: (c["granted"], c["source"]) for c in summary["consent"]}
    assert consent == {"marketing": (False, "staff"), "service": (True, None)}


def test_the_timeline_shows_clicks_and_an_ended_link_and_pages_through_them(
    db: Database, shop: Shop, channel: ChannelSetup, hub_url: str
) -> None:
    admin = admin_api(db, hub_url, shop)
    friend_id = chart_friend(db, shop, channel)
    with db.session_scope() as session:
        session.add(
            TrackedLink(
                code="c1",
                shop_id=shop.id,
                friend_id=friend_id,
                source="campaign:thanks",
                url="https://shop.example.jp/sale",
            )
        )
        session.flush()
        session.add(LinkClick(code="c1", clicked_at=_at(5)))
    earlier = add_member(db, shop.id, "M-0999")
    with db.session_scope() as session:
        session.add(
            MemberLink(
                shop_id=channel.shop_id,
                provider_id=session.get_one(Channel, channel.channel_pk).provider_id,
                friend_id=friend_id,
                member_id=earlier,
                method="staff",
                linked_by="test",
                linked_at=datetime(2026, 2, 1, tzinfo=UTC),
                unlinked_at=datetime(2026, 2, 10, tzinfo=UTC),
                unlinked_by="staff:ken",
            )
        )

    seen, cursor = [], None
    while True:
        params = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        timeline = admin.get(f"/friends/{friend_id}/chart", **params).json()["timeline"]
        seen += [(e["kind"], e["text"]) for e in timeline["items"]]
        cursor = timeline["next_cursor"]
        if cursor is None:
            break

    assert seen == [
        ("link", "M-1001"),
        ("click", "https://shop.example.jp/sale"),
        ("booking", "Cut"),
        ("delivery", "ご来店ありがとうございます"),
        ("message", "予約できますか"),
        ("purchase", "#1001 5,500 JPY"),
        ("unlink", "M-0999"),
        ("link", "M-0999"),
        ("follow", None),
    ]


def test_the_follow_history_says_when_the_friend_added_blocked_and_unblocked_the_account(
    db: Database, shop: Shop, channel: ChannelSetup, hub_url: str
) -> None:
    admin = admin_api(db, hub_url, shop)
    friend_id = add_friend(db, channel.channel_pk, "U" + "3" * 32, blocked=True)
    with db.session_scope() as session:
        friends.record_follow(
            session,
            channel=session.get_one(Channel, channel.channel_pk),
            line_user_id="U" + "3" * 32,
            occurred_at=datetime(2099, 1, 1, tzinfo=UTC),
        )

    chart = admin.get(f"/friends/{friend_id}/chart").json()

    history = [(e["kind"], e["action"]) for e in chart["timeline"]["items"]]
    assert history == [("follow", "unblocked"), ("follow", "blocked"), ("follow", "followed")]
    assert chart["friend"]["status"] == "followed"
