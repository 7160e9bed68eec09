"""Friends through the admin API: who follows, their LINE profile, tags, and member link."""

from __future__ import annotations

import pytest

from core.db import Database
from core.tenancy import Shop
from sandbox.line.server import SandboxServer
from tests.api.admin_support import AdminApi, add_friend, add_link, add_member, admin_api
from tests.factories import ChannelSetup, make_channel, make_shop
from tests.waiting import wait_for


@pytest.fixture
def admin(db: Database, hub_url: str, shop: Shop) -> AdminApi:
    return admin_api(db, hub_url, shop)


def user_id(n: int) -> str:
    return f"U{n:032x}"


def ids(response) -> list[int]:
    assert response.status_code == 200, response.text
    return [item["id"] for item in response.json()["items"]]


def test_a_new_follower_appears_with_the_profile_fetched_from_line(
    line_sandbox: SandboxServer, channel: ChannelSetup, admin: AdminApi
) -> None:
    user = line_sandbox.state.add_user(
        display_name="佐藤 花子", status_message="よろしく", language="ja"
    )

    line_sandbox.simulate.follow(user.user_id, channel_id=channel.channel_id)

    friend = wait_for(
        lambda: next(
            (f for f in admin.get("/friends").json()["items"] if f["profile"]["display_name"]),
            None,
        ),
        what="the follower with a profile",
    )
    assert friend["line_user_id"] == user.user_id
    assert friend["channel_id"] == channel.channel_id
    assert friend["status"] == "followed"
    assert friend["profile"]["display_name"] == "佐藤 花子"
    assert friend["profile"]["status_message"] == "よろしく"
    assert friend["profile"]["language"] == "ja"
    assert friend["first_followed_at"] is not None
    assert friend["linked"] is False and friend["link"] is None
    assert admin.get(f"/friends/{friend['id']}").json() == friend


def test_a_linked_friend_shows_the_member_it_is_linked_to(
    db: Database, shop: Shop, channel: ChannelSetup, admin: AdminApi
) -> None:
    friend_id = add_friend(db, channel.channel_pk, user_id(1), tags=("vip", "coupon-2026"))
    member_id = add_member(db, shop.id, "M-100")
    add_link(db, shop.id, friend_id, member_id)

    friend = admin.get(f"/friends/{friend_id}").json()

    assert friend["linked"] is True
    assert friend["link"]["member_id"] == member_id
    assert friend["link"]["member_number"] == "M-100"
    assert friend["link"]["method"] == "staff"
    assert friend["tags"] == ["coupon-2026", "vip"]


def test_friends_can_be_filtered_by_status_link_tag_channel_and_user(
    db: Database,
    line_sandbox: SandboxServer,
    hub_url: str,
    shop: Shop,
    channel: ChannelSetup,
    admin: AdminApi,
) -> None:
    follower = add_friend(db, channel.channel_pk, user_id(1), tags=("vip",))
    blocker = add_friend(db, channel.channel_pk, user_id(2), blocked=True)
    linked = add_friend(db, channel.channel_pk, user_id(3), tags=("vip",))
    add_link(db, shop.id, linked, add_member(db, shop.id, "M-1"))
    formerly_linked = add_friend(db, channel.channel_pk, user_id(4))
    add_link(db, shop.id, formerly_linked, add_member(db, shop.id, "M-2"), ended=True)
    second_channel = make_channel(db, line_sandbox, hub_url, shop)
    elsewhere = add_friend(db, second_channel.channel_pk, user_id(1))

    assert ids(admin.get("/friends", status="blocked")) == [blocker]
    assert ids(admin.get("/friends", status="followed")) == [
        elsewhere,
        formerly_linked,
        linked,
        follower,
    ]
    assert ids(admin.get("/friends", linked="true")) == [linked]
    assert ids(admin.get("/friends", linked="false")) == [
        elsewhere,
        formerly_linked,
        blocker,
        follower,
    ]
    assert ids(admin.get("/friends", tag="vip")) == [linked, follower]
    assert ids(admin.get("/friends", tag="vip", linked="false")) == [follower]
    assert ids(admin.get("/friends", tag="nobody-has-this")) == []
    assert ids(admin.get("/friends", channel_id=second_channel.channel_id)) == [elsewhere]
    assert ids(admin.get("/friends", line_user_id=user_id(1))) == [elsewhere, follower]


def test_friends_are_counted_with_the_lists_filters_in_one_request(
    db: Database, line_sandbox: SandboxServer, shop: Shop, channel: ChannelSetup, admin: AdminApi
) -> None:
    for n in range(1, 4):
        add_friend(db, channel.channel_pk, user_id(n), tags=("vip",) if n < 3 else ())
    add_friend(db, channel.channel_pk, user_id(4), blocked=True, tags=("vip",))
    other_shop = make_shop(db)
    other = make_channel(db, line_sandbox, "http://127.0.0.1:9", other_shop)
    add_friend(db, other.channel_pk, user_id(5))

    def count(**filters: str) -> int:
        response = admin.get("/friends/count", **filters)
        assert response.status_code == 200, response.text
        return response.json()["count"]

    assert count() == 4  # the other shop's friend is not counted
    assert count(status="followed") == 3
    assert count(tag="vip") == 3
    assert count(tag="vip", status="followed") == 2
    assert admin.get("/friends/count", status="sleeping").status_code == 422


def test_an_unknown_status_filter_is_refused_with_the_allowed_values(admin: AdminApi) -> None:
    response = admin.get("/friends", status="sleeping")

    assert response.status_code == 422
    assert response.json()["error"] == "ValidationFailed"
    assert response.json()["detail"][0]["field"] == "query.status"
    assert "'followed', 'blocked' or 'erased'" in response.json()["detail"][0]["message"]


def test_a_missing_friend_is_a_404_that_says_where_to_look(admin: AdminApi) -> None:
    response = admin.get("/friends/999999")

    assert response.status_code == 404
    assert response.json() == {
        "error": "FriendNotFound",
        "detail": "no friend 999999 in this shop: GET /friends lists them",
    }


def test_friend_pages_follow_the_cursor_to_the_end(
    db: Database, channel: ChannelSetup, admin: AdminApi
) -> None:
    created = [add_friend(db, channel.channel_pk, user_id(n)) for n in range(5)]

    first = admin.get("/friends", limit="2").json()
    second = admin.get("/friends", limit="2", cursor=first["next_cursor"]).json()
    third = admin.get("/friends", limit="2", cursor=second["next_cursor"]).json()

    pages = [first, second, third]
    assert [[f["id"] for f in page["items"]] for page in pages] == [
        created[4:2:-1],
        created[2:0:-1],
        created[0:1],
    ]
    assert third["next_cursor"] is None


def test_tags_are_listed_with_how_many_friends_carry_each(
    db: Database, hub_url: str, line_sandbox: SandboxServer, channel: ChannelSetup, admin: AdminApi
) -> None:
    add_friend(db, channel.channel_pk, user_id(1), tags=("vip", "spring-sale"))
    add_friend(db, channel.channel_pk, user_id(2), tags=("vip",))
    other_shop = make_shop(db)
    add_friend(
        db,
        make_channel(db, line_sandbox, hub_url, other_shop).channel_pk,
        user_id(3),
        tags=("elsewhere",),
    )

    tags = admin.get("/tags").json()["items"]

    assert [(t["name"], t["friends"]) for t in tags] == [("spring-sale", 1), ("vip", 2)]


def test_friends_are_found_by_part_of_their_name_or_their_exact_member_number(
    db: Database, shop: Shop, channel: ChannelSetup, admin: AdminApi
) -> None:
    hanako = add_friend(db, channel.channel_pk, user_id(1), display_name="佐藤 花子")
    ichiro = add_friend(db, channel.channel_pk, user_id(2), display_name="Ichiro 100%")
    add_link(db, shop.id, ichiro, add_member(db, shop.id, "M-100"))

    assert ids(admin.get("/friends", q="花子")) == [hanako]
    assert ids(admin.get("/friends", q="ichiro")) == [ichiro]
    assert ids(admin.get("/friends", q="M-100")) == [ichiro]
    assert ids(admin.get("/friends", q="M-10")) == []
    assert ids(admin.get("/friends", q="100%")) == [ichiro]
    assert ids(admin.get("/friends", q="%")) == [ichiro]
