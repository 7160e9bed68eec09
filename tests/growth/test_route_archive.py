"""Archiving a follow route when its poster comes down: it leaves the lists, its URL answers a
page saying it ended and records no visit, its history stays, and restoring brings it back."""

from __future__ import annotations

import httpx
import pytest

from core.db import Database
from core.tenancy import Shop
from sandbox.line.server import SandboxServer
from staff.models import Role
from tests.api.admin_support import AdminApi, admin_api
from tests.console.support import Browser, add_staff
from tests.factories import ChannelSetup
from tests.growth.support import (
    add_friend_on_screen,
    friend_of,
    give_liff_app,
    make_route,
    route_of,
    visit,
    wait_touches,
)
from tests.waiting import wait_for


@pytest.fixture
def api(db: Database, hub_url: str, shop: Shop, channel: ChannelSetup) -> AdminApi:
    give_liff_app(db, channel)
    return admin_api(db, hub_url, shop)


def test_an_archived_route_leaves_the_list_ends_its_url_and_keeps_its_report(
    db: Database, hub_url: str, line_sandbox: SandboxServer, channel: ChannelSetup, api: AdminApi
) -> None:
    route = make_route(api, "Summer poster")
    make_route(api, "Counter")
    user = line_sandbox.state.add_user(display_name="Hanako")
    opened = visit(hub_url, line_sandbox, channel, route["code"], user.user_id)
    add_friend_on_screen(opened.json()["next_url"], user.user_id)
    friend = wait_for(lambda: friend_of(db, channel, user.user_id), what="the follow")
    wait_touches(db, friend.id, 1)

    archived = api.post(f"/routes/{route['id']}/archive", {})
    assert archived.status_code == 200, archived.text
    assert archived.json()["archived_at"] is not None
    again = api.post(f"/routes/{route['id']}/archive", {}).json()

    assert again["archived_at"] == archived.json()["archived_at"]
    assert [r["name"] for r in api.get("/routes").json()["items"]] == ["Counter"]
    assert [r["name"] for r in api.get("/routes", archived="true").json()["items"]] == [
        "Summer poster"
    ]
    page = httpx.get(route["url"], timeout=10)
    assert page.status_code == 410
    assert "受付は終了しました" in page.text and "liff.init" not in page.text
    late = line_sandbox.state.add_user(display_name="Late")
    refused = visit(hub_url, line_sandbox, channel, route["code"], late.user_id)
    assert refused.status_code == 410
    assert refused.json()["error"] == "RouteEnded"
    report = api.get(f"/routes/{route['id']}/report").json()
    assert (report["totals"]["visits"], report["totals"]["new_friends"]) == (1, 1)
    assert route_of(db, channel, user.user_id) == "Summer poster"

    restored = api.post(f"/routes/{route['id']}/restore", {}).json()
    assert restored["archived_at"] is None and restored["code"] == route["code"]
    assert httpx.get(route["url"], timeout=10).status_code == 200
    assert visit(hub_url, line_sandbox, channel, route["code"], late.user_id).status_code == 200


def test_staff_archive_and_restore_a_route_in_the_console(
    db: Database, hub_url: str, shop: Shop, api: AdminApi
) -> None:
    route = make_route(api, "Flyer")
    add_staff(db, shop, "admin@example.jp", Role.ADMIN)
    add_staff(db, shop, "operator@example.jp", Role.OPERATOR)
    operator = Browser(hub_url)
    operator.sign_in("operator@example.jp")
    page = f"/console/routes/{route['id']}"
    assert "/archive" not in operator.get(page).text
    assert operator.submit(page, f"{page}/archive", {}).status_code == 403
    admin = Browser(hub_url)
    admin.sign_in("admin@example.jp")

    archived = admin.submit(page, f"{page}/archive", {})

    assert archived.status_code == 303
    shown = admin.get(page).text
    assert "アーカイブ済み" in shown and "経路を元に戻す" in shown
    assert "Flyer" not in admin.get("/console/routes").text.split("<main")[1]
    assert "アーカイブ済みの経路\uff081\uff09" in admin.get("/console/routes").text
    assert "Flyer" in admin.get("/console/routes?archived=true").text
    assert admin.submit(page, f"{page}/restore", {}).status_code == 303
    assert "Flyer" in admin.get("/console/routes").text.split("<main")[1]
