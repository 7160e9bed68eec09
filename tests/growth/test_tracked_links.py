"""A route with a destination is a tracked link for anything — a rich menu button, a Flex
button, a web banner: the LINE user is identified, each friend's clicks are counted, the
route's tag is put on them, and the browser goes on to the destination."""

from __future__ import annotations

import httpx
import pytest

from core.db import Database
from core.tenancy import Shop
from sandbox.line.server import SandboxServer
from tests.api.admin_support import AdminApi, admin_api
from tests.factories import ChannelSetup
from tests.growth.support import give_liff_app, make_route, visit
from tests.idlink.support import befriend, tags_of

MENU_PAGE = "https://salon.example/menu?from=richmenu"


@pytest.fixture
def api(db: Database, hub_url: str, shop: Shop, channel: ChannelSetup) -> AdminApi:
    give_liff_app(db, channel)
    return admin_api(db, hub_url, shop)


def test_clicks_are_counted_per_friend_tagged_and_sent_on_to_the_destination(
    db: Database, hub_url: str, line_sandbox: SandboxServer, channel: ChannelSetup, api: AdminApi
) -> None:
    link = make_route(
        api,
        "Rich menu: price list",
        destination_url=MENU_PAGE,
        actions=[{"kind": "tag", "target": "read-price-list", "when": "first"}],
    )
    hanako = befriend(db, line_sandbox, channel, "Hanako")
    taro = befriend(db, line_sandbox, channel, "Taro")
    stranger = line_sandbox.state.add_user(display_name="Not a friend")

    answers = [
        visit(hub_url, line_sandbox, channel, link["code"], user)
        for user in (hanako.user_id, hanako.user_id, taro.user_id, stranger.user_id)
    ]

    assert [a.json()["next_url"] for a in answers] == [MENU_PAGE] * 4
    assert [a.json()["friend"] for a in answers] == [True, True, True, False]
    assert "read-price-list" in tags_of(db, hanako.friend_id)
    assert "read-price-list" in tags_of(db, taro.friend_id)
    first = api.get(f"/routes/{link['id']}/friends", limit=1).json()
    assert [(v["friend_id"], v["visits"]) for v in first["items"]] == [(hanako.friend_id, 2)]
    rest = api.get(f"/routes/{link['id']}/friends", limit=1, after=first["next_after"]).json()
    assert [(v["friend_id"], v["visits"]) for v in rest["items"]] == [(taro.friend_id, 1)]
    assert rest["next_after"] is None
    totals = api.get(f"/routes/{link['id']}/report").json()["totals"]
    assert (totals["visits"], totals["visitors"], totals["returning_friends"]) == (4, 3, 2)


@pytest.mark.parametrize(
    "destination", ["javascript:alert(1)", "ftp://files.example/x", "https://a b.example/"]
)
def test_a_destination_that_is_not_a_web_page_is_refused(
    hub_url: str, api: AdminApi, destination: str
) -> None:
    refused = api.post("/routes", {"name": "Bad link", "destination_url": destination})

    assert refused.status_code == 422, refused.text
    assert api.get("/routes").json()["items"] == []


def test_the_page_of_a_tracked_link_opens_over_real_http(hub_url: str, api: AdminApi) -> None:
    link = make_route(api, "Flex button", destination_url=MENU_PAGE)

    page = httpx.get(link["url"], timeout=10)

    assert page.status_code == 200
    assert '"visitUrl": "/api/routes/visit"' in page.text
    # Where a visitor LINE cannot identify may still go on to (their visit is not recorded).
    assert f'"fallbackUrl": "{MENU_PAGE}"' in page.text
