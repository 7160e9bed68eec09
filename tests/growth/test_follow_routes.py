"""Follow routes end to end: a route's URL identifies the LINE user, the add-friend screen's
follow is attributed to it, its actions run, returning friends are counted, the report adds up."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest
from sqlalchemy import update

from core.clock import utcnow
from core.db import Database
from core.tenancy import Shop
from growth.models import RouteVisit
from sandbox.line.server import SandboxServer
from tests.api.admin_support import AdminApi, admin_api
from tests.factories import ChannelSetup
from tests.growth.support import (
    add_friend_on_screen,
    friend_of,
    give_liff_app,
    make_route,
    route_of,
    touches,
    visit,
    wait_touches,
)
from tests.idlink.support import befriend, tags_of
from tests.waiting import wait_for


@pytest.fixture
def api(db: Database, hub_url: str, shop: Shop, channel: ChannelSetup) -> AdminApi:
    give_liff_app(db, channel)
    return admin_api(db, hub_url, shop)


POSTER = {
    "actions": [
        {"kind": "tag", "target": "poster", "when": "every"},
        {"kind": "message", "target": "ようこそ。ポスターを見てくれてありがとう", "when": "first"},
    ]
}


def test_a_follow_after_opening_the_route_is_attributed_and_tags_and_welcomes(
    db: Database, hub_url: str, line_sandbox: SandboxServer, channel: ChannelSetup, api: AdminApi
) -> None:
    route = make_route(api, "Station poster", **POSTER)
    page = httpx.get(route["url"], timeout=10)
    assert page.status_code == 200 and "liff.init" in page.text
    user = line_sandbox.state.add_user(display_name="Hanako")

    opened = visit(hub_url, line_sandbox, channel, route["code"], user.user_id)

    assert opened.status_code == 200, opened.text
    assert opened.json()["friend"] is False
    next_url = opened.json()["next_url"]
    assert next_url.startswith(f"{line_sandbox.url}/R/ti/p/%40")
    assert "Add friend as Hanako" in httpx.get(next_url, timeout=10).text
    assert add_friend_on_screen(next_url, user.user_id).status_code == 200
    friend = wait_for(lambda: friend_of(db, channel, user.user_id), what="the follow")
    [touch] = wait_touches(db, friend.id, 1)
    assert (touch.kind, touch.new_friend) == ("follow", True)
    assert route_of(db, channel, user.user_id) == "Station poster"
    assert "poster" in tags_of(db, friend.id)
    welcome = wait_for(lambda: line_sandbox.state.inbox(user.user_id), what="the welcome")
    assert welcome[0].message["text"].startswith("ようこそ")
    assert welcome[0].endpoint == "replyMessage"  # the follow's reply token: free of quota
    report = api.get(f"/routes/{route['id']}/report").json()
    assert report["totals"]["visits"] == 1
    assert report["totals"]["new_friends"] == 1
    assert report["totals"]["returning_friends"] == 0
    assert [d["new_friends"] for d in report["days"]] == [1]


def test_a_friend_opening_it_again_is_a_returning_visit_and_first_only_actions_run_once(
    db: Database, hub_url: str, line_sandbox: SandboxServer, channel: ChannelSetup, api: AdminApi
) -> None:
    route = make_route(
        api,
        "Counter QR",
        actions=[
            {"kind": "tag", "target": "counter", "when": "first"},
            {"kind": "tag", "target": "visited-counter", "when": "every"},
        ],
    )
    person = befriend(db, line_sandbox, channel, "Taro")

    first = visit(hub_url, line_sandbox, channel, route["code"], person.user_id)
    api.post(
        f"/tags/{_tag_id(api, 'visited-counter')}/friends/remove",
        {"friend_ids": [person.friend_id]},
    )
    api.post(f"/tags/{_tag_id(api, 'counter')}/friends/remove", {"friend_ids": [person.friend_id]})
    second = visit(hub_url, line_sandbox, channel, route["code"], person.user_id)

    assert first.json()["friend"] is True and second.json()["friend"] is True
    found = touches(db, person.friend_id)
    assert [t.kind for t in found] == ["returning", "returning"]
    assert found[1].outcome == [
        "tag counter: skipped (first time only)",
        "tag visited-counter: added",
    ]
    assert tags_of(db, person.friend_id) >= {"visited-counter"}
    assert "counter" not in tags_of(db, person.friend_id)
    # A returning friend is not where they came from: their follow route stays unknown.
    assert route_of(db, channel, person.user_id) is None
    totals = api.get(f"/routes/{route['id']}/report").json()["totals"]
    assert (totals["visits"], totals["new_friends"], totals["returning_friends"]) == (2, 0, 1)


def _tag_id(api: AdminApi, name: str) -> int:
    return next(t["id"] for t in api.get("/tags").json()["items"] if t["name"] == name)


def test_a_follow_outside_the_window_or_without_a_visit_is_not_attributed(
    db: Database, hub_url: str, line_sandbox: SandboxServer, channel: ChannelSetup, api: AdminApi
) -> None:
    route = make_route(api, "Flyer", window_hours=1, actions=[{"kind": "tag", "target": "flyer"}])
    late = line_sandbox.state.add_user(display_name="Late")
    visit(hub_url, line_sandbox, channel, route["code"], late.user_id)
    with db.session_scope() as session:
        session.execute(
            update(RouteVisit)
            .where(RouteVisit.line_user_id == late.user_id)
            .values(visited_at=utcnow() - timedelta(hours=2))
        )
    stranger = befriend(db, line_sandbox, channel, "Walk-in")
    line_sandbox.simulate.follow(late.user_id, channel_id=channel.channel_id)
    # The last follow is processed after the first: once it is known, both were looked at.
    friend = wait_for(lambda: friend_of(db, channel, late.user_id), what="the late follow")

    assert touches(db, friend.id) == []
    assert touches(db, stranger.friend_id) == []
    assert route_of(db, channel, late.user_id) is None
    totals = api.get(f"/routes/{route['id']}/report").json()["totals"]
    assert (totals["visits"], totals["new_friends"]) == (1, 0)


def test_the_qr_code_is_served_as_svg_and_as_png_sized_by_scale(
    hub_url: str, api: AdminApi
) -> None:
    route = make_route(api, "Window sticker")

    svg = httpx.get(route["qr_svg"], timeout=10)
    small = httpx.get(route["qr_png"], params={"scale": 2}, timeout=10)
    poster = httpx.get(route["qr_png"], params={"scale": 40, "download": "true"}, timeout=10)

    assert svg.headers["content-type"] == "image/svg+xml" and b"<svg" in svg.content
    assert small.content.startswith(b"\x89PNG") and poster.content.startswith(b"\x89PNG")
    width = int.from_bytes(poster.content[16:20], "big")
    assert width == 20 * int.from_bytes(small.content[16:20], "big")
    assert width >= 1000
    assert "attachment" in poster.headers["content-disposition"]
    assert httpx.get(route["qr_png"], params={"scale": 41}, timeout=10).status_code == 422


def test_hostile_visits_are_refused_with_a_clear_error(
    hub_url: str, line_sandbox: SandboxServer, channel: ChannelSetup, api: AdminApi
) -> None:
    route = make_route(api, "Banner")
    user = line_sandbox.state.add_user(display_name="Mallory")
    other_channel_token = line_sandbox.state.issue_id_token(user.user_id, "1999999999")

    forged = httpx.post(
        f"{hub_url}/api/routes/visit",
        json={"code": route["code"], "id_token": other_channel_token},
        timeout=10,
    )
    unknown = visit(hub_url, line_sandbox, channel, "zzzzzzzz", user.user_id)
    malformed = httpx.post(
        f"{hub_url}/api/routes/visit", json={"code": "../x", "id_token": "a" * 30}, timeout=10
    )

    assert forged.status_code == 401, forged.text
    assert unknown.status_code == 404 and unknown.json()["error"] == "RouteNotFound"
    assert malformed.status_code == 422
    assert httpx.get(f"{hub_url}/r/zzzzzzzz", timeout=10).status_code == 404
    assert api.get(f"/routes/{route['id']}/report").json()["totals"]["visits"] == 0


def test_a_route_name_is_unique_and_renaming_it_renames_its_friends_route(
    db: Database, hub_url: str, line_sandbox: SandboxServer, channel: ChannelSetup, api: AdminApi
) -> None:
    route = make_route(api, "Spring poster")
    assert api.post("/routes", {"name": "Spring poster"}).status_code == 409
    user = line_sandbox.state.add_user(display_name="Yui")
    opened = visit(hub_url, line_sandbox, channel, route["code"], user.user_id)
    add_friend_on_screen(opened.json()["next_url"], user.user_id)
    friend = wait_for(lambda: friend_of(db, channel, user.user_id), what="the follow")
    wait_touches(db, friend.id, 1)

    renamed = api.put(f"/routes/{route['id']}", {"name": "Spring poster 2027", "window_hours": 48})

    assert renamed.status_code == 200, renamed.text
    assert renamed.json()["code"] == route["code"]
    assert route_of(db, channel, user.user_id) == "Spring poster 2027"
    listed = api.get("/friends", follow_route="Spring poster 2027").json()["items"]
    assert [f["id"] for f in listed] == [friend.id]
