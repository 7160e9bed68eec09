"""The shop's tags through the admin API: create, rename, recolour, folders, delete, bulk."""

from __future__ import annotations

import httpx
from sqlalchemy import select

from core.audit import AuditLog
from core.db import Database
from core.tenancy import Shop, create_channel
from idlink.models import FriendTagEvent
from tests.api.admin_support import add_friend, admin_api
from tests.factories import ChannelSetup, make_shop


def _delete(url: str, headers: dict[str, str]) -> httpx.Response:
    return httpx.delete(url, headers=headers, timeout=10)


def test_a_tag_is_created_coloured_filed_renamed_and_listed_by_folder(
    db: Database, shop: Shop, channel: ChannelSetup, hub_url: str
) -> None:
    admin = admin_api(db, hub_url, shop, name="crm")
    add_friend(db, channel.channel_pk, "U" + "1" * 32, tags=("vip",))

    created = admin.post("/tags", {"name": " 常連 ", "colour": "green", "folder": "来店"})
    tag_id = created.json()["id"]
    renamed = admin.patch(f"/tags/{tag_id}", {"name": "常連さん", "colour": "blue"})
    unfiled = admin.patch(f"/tags/{tag_id}", {"folder": None})
    admin.patch(f"/tags/{tag_id}", {"folder": "VIP"})
    listed = admin.get("/tags").json()["items"]

    assert created.status_code == 201
    assert created.json() | {"created_at": None, "id": None} == {
        "id": None,
        "name": "常連",
        "colour": "green",
        "folder": "来店",
        "friends": 0,
        "created_at": None,
    }
    assert (renamed.json()["name"], renamed.json()["colour"]) == ("常連さん", "blue")
    assert unfiled.json()["folder"] is None
    assert [(t["folder"], t["name"], t["friends"]) for t in listed] == [
        (None, "vip", 1),
        ("VIP", "常連さん", 0),
    ]
    with db.session_scope() as session:
        audited = session.scalars(
            select(AuditLog.action).where(AuditLog.subject_type == "tag").order_by(AuditLog.id)
        ).all()
    assert audited == ["tag.created", "tag.updated", "tag.updated", "tag.updated"]


def test_a_second_tag_of_the_same_name_and_a_colour_off_the_palette_are_refused(
    db: Database, shop: Shop, channel: ChannelSetup, hub_url: str
) -> None:
    admin = admin_api(db, hub_url, shop)
    first = admin.post("/tags", {"name": "vip"}).json()
    other = admin.post("/tags", {"name": "new"}).json()

    again = admin.post("/tags", {"name": "vip"})
    clash = admin.patch(f"/tags/{other['id']}", {"name": "vip"})
    colour = admin.post("/tags", {"name": "x", "colour": "#ff0000"})
    control = admin.post("/tags", {"name": "a\nb"})
    blank = admin.post("/tags", {"name": "   "})

    assert first["colour"] == "gray" and first["folder"] is None
    assert again.status_code == 409 and again.json()["error"] == "TagExists"
    assert clash.status_code == 409
    assert [r.status_code for r in (colour, control, blank)] == [422, 422, 422]
    friend = add_friend(db, channel.channel_pk, "U" + "3" * 32)
    bell = admin.post(f"/friends/{friend}/tags", {"name": "a\x07b"})
    assert bell.status_code == 422


def test_deleting_a_tag_untags_its_friends_and_their_history_keeps_it(
    db: Database, shop: Shop, channel: ChannelSetup, hub_url: str
) -> None:
    admin = admin_api(db, hub_url, shop, name="crm")
    friends = [add_friend(db, channel.channel_pk, f"U{i:032x}", tags=("sale",)) for i in (1, 2)]
    tag = next(t for t in admin.get("/tags").json()["items"] if t["name"] == "sale")

    shown = admin.get(f"/tags/{tag['id']}").json()
    deleted = _delete(f"{admin.base_url}/tags/{tag['id']}", admin.headers)
    gone = admin.get(f"/tags/{tag['id']}")
    chart = admin.get(f"/friends/{friends[0]}/chart").json()

    assert shown["friends"] == 2
    assert deleted.json() == {"name": "sale", "friends_untagged": 2}
    assert gone.status_code == 404 and gone.json()["error"] == "TagNotFound"
    assert chart["friend"]["tags"] == []
    history = [
        (e["action"], e["detail"]["tag"], e["actor"])
        for e in chart["timeline"]["items"]
        if e["kind"] == "tag"
    ]
    assert history == [
        ("friend.tag_removed", "sale", "token:crm"),
        ("friend.tag_added", "sale", "test"),
    ]


def test_many_friends_are_tagged_at_once_and_strangers_are_named_not_tagged(
    db: Database, shop: Shop, channel: ChannelSetup, hub_url: str
) -> None:
    admin = admin_api(db, hub_url, shop, name="crm")
    mine = [add_friend(db, channel.channel_pk, f"U{i:032x}") for i in range(1, 4)]
    other_shop = make_shop(db)
    stranger = add_friend(db, _channel_of(db, other_shop), "U" + "f" * 32)
    tag = admin.post("/tags", {"name": "campaign-a"}).json()

    first = admin.post(f"/tags/{tag['id']}/friends", {"friend_ids": [*mine, stranger]})
    again = admin.post(f"/tags/{tag['id']}/friends", {"friend_ids": mine})
    removed = admin.post(f"/tags/{tag['id']}/friends/remove", {"friend_ids": mine[:1]})
    too_many = admin.post(f"/tags/{tag['id']}/friends", {"friend_ids": list(range(1, 10_002))})

    assert first.json() == {"changed": 3, "unchanged": 0, "not_found": [stranger]}
    assert again.json() == {"changed": 0, "unchanged": 3, "not_found": []}
    assert removed.json() == {"changed": 1, "unchanged": 0, "not_found": []}
    assert too_many.status_code == 422
    assert admin.get(f"/tags/{tag['id']}").json()["friends"] == 2
    with db.session_scope() as session:
        events = session.scalars(select(FriendTagEvent).order_by(FriendTagEvent.id)).all()
        assert [(e.friend_id, e.added, e.source) for e in events] == [
            *((i, True, "token:crm") for i in mine),
            (mine[0], False, "token:crm"),
        ]


def test_another_shops_tag_cannot_be_seen_changed_or_deleted(
    db: Database, shop: Shop, hub_url: str
) -> None:
    theirs = admin_api(db, hub_url, make_shop(db)).post("/tags", {"name": "secret"}).json()
    admin = admin_api(db, hub_url, shop)

    responses = [
        admin.get(f"/tags/{theirs['id']}"),
        admin.patch(f"/tags/{theirs['id']}", {"name": "mine"}),
        _delete(f"{admin.base_url}/tags/{theirs['id']}", admin.headers),
        admin.post(f"/tags/{theirs['id']}/friends", {"friend_ids": [1]}),
    ]

    assert [r.status_code for r in responses] == [404, 404, 404, 404]
    assert admin.get("/tags").json()["items"] == []


def _channel_of(db: Database, shop: Shop) -> int:
    """A channel of ``shop`` registered in the hub only (no webhook reaches it here)."""
    with db.session_scope() as session:
        return create_channel(
            session,
            shop=session.get_one(Shop, shop.id),
            name="Other account",
            line_channel_id="9999999999",
            channel_secret="s" * 32,
            access_token="t" * 40,
        ).id


def test_a_bulk_action_over_the_friends_list_enters_each_friends_tag_history(
    db: Database, shop: Shop, channel: ChannelSetup, hub_url: str
) -> None:
    admin = admin_api(db, hub_url, shop, name="crm")
    friends = [add_friend(db, channel.channel_pk, f"U{i:032x}") for i in (1, 2)]

    added = admin.post(
        "/friends/bulk", {"action": "add_tag", "tag": "春の案内", "filters": {"status": "followed"}}
    )
    removed = admin.post(
        "/friends/bulk", {"action": "remove_tag", "tag": "春の案内", "filters": {}}
    )

    assert added.status_code in (200, 201, 202), added.text
    assert removed.status_code in (200, 201, 202), removed.text
    with db.session_scope() as session:
        events = session.scalars(select(FriendTagEvent).order_by(FriendTagEvent.id)).all()
        assert sorted((e.friend_id, e.added, e.tag_name, e.source) for e in events) == sorted(
            (f, added_, "春の案内", "token:crm") for f in friends for added_ in (True, False)
        )
