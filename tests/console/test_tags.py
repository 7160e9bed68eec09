"""タグ管理 as staff use it: create a coloured tag in a folder, rename, move, delete after
seeing how many friends carry it; the chart's chips and timeline follow."""

from __future__ import annotations

import re

from core.db import Database
from core.tenancy import Shop
from staff.models import Role
from tests.api.admin_support import add_friend
from tests.console.support import Browser, add_staff
from tests.factories import ChannelSetup

TAG_ROW = re.compile(r'<li id="tag-(\d+)">')


def signed_in(db: Database, hub_url: str, shop: Shop, role: Role = Role.ADMIN) -> Browser:
    add_staff(db, shop, f"{role.value}@example.jp", role)
    browser = Browser(hub_url)
    assert browser.sign_in(f"{role.value}@example.jp").status_code == 303
    return browser


def folders(html: str) -> list[tuple[str, list[str]]]:
    """Each folder's heading and the tags listed under it, in page order."""
    found = []
    for section in html.split('<section class="card tag-folder">')[1:]:
        heading = re.search(r"<h2>(.*?)</h2>", section, re.S)
        assert heading
        names = re.findall(r'<span class="chip tag-(\w+)">([^<]+)</span>', section)
        found.append(
            (
                re.sub(r"<[^>]+>", "", heading.group(1)).strip(),
                [f"{name} ({colour})" for colour, name in names],
            )
        )
    return found


def test_an_admin_creates_a_coloured_tag_in_a_folder_renames_and_moves_it(
    db: Database, hub_url: str, shop: Shop, channel: ChannelSetup
) -> None:
    add_friend(db, channel.channel_pk, "U" + "1" * 32, tags=("vip",))
    browser = signed_in(db, hub_url, shop)

    created = browser.submit(
        "/console/tags", "/console/tags", {"name": "常連", "colour": "green", "folder": "来店"}
    )
    after_create = browser.get("/console/tags")
    tag_id = TAG_ROW.findall(after_create.text)[-1]
    browser.submit(
        "/console/tags",
        f"/console/tags/{tag_id}",
        {"name": "常連さん", "colour": "purple", "folder": ""},
    )
    after_move = browser.get("/console/tags")

    assert created.status_code == 303
    assert created.headers["location"] == f"/console/tags?done=created#tag-{tag_id}"
    assert "タグを作成しました。" in browser.get(created.headers["location"]).text
    assert folders(after_create.text) == [
        ("フォルダなし", ["vip (gray)"]),
        ("フォルダ 来店", ["常連 (green)"]),
    ]
    assert folders(after_move.text) == [("フォルダなし", ["vip (gray)", "常連さん (purple)"])]
    assert "1 人" in after_move.text and "0 人" in after_move.text


def test_a_taken_name_is_refused_with_the_reason_and_nothing_changes(
    db: Database, hub_url: str, shop: Shop, channel: ChannelSetup
) -> None:
    add_friend(db, channel.channel_pk, "U" + "1" * 32, tags=("vip",))
    browser = signed_in(db, hub_url, shop)

    refused = browser.submit("/console/tags", "/console/tags", {"name": " vip ", "colour": "red"})

    assert refused.status_code == 409
    assert "「vip」という名前のタグはすでにあります。" in refused.text
    assert folders(browser.get("/console/tags").text) == [("フォルダなし", ["vip (gray)"])]


def test_deleting_shows_how_many_friends_carry_the_tag_then_untags_them(
    db: Database, hub_url: str, shop: Shop, channel: ChannelSetup
) -> None:
    friend = add_friend(db, channel.channel_pk, "U" + "1" * 32, tags=("sale",))
    add_friend(db, channel.channel_pk, "U" + "2" * 32, tags=("sale",))
    browser = signed_in(db, hub_url, shop)
    tag_id = TAG_ROW.findall(browser.get("/console/tags").text)[0]

    confirm = browser.get(f"/console/tags/{tag_id}/delete")
    deleted = browser.submit(f"/console/tags/{tag_id}/delete", f"/console/tags/{tag_id}/delete", {})
    chart = browser.get(f"/console/friends/{friend}")

    assert "タグ「sale」を削除しますか" in confirm.text
    assert "このタグが付いている友だちは 2 人です。" in confirm.text
    assert deleted.status_code == 303
    assert folders(browser.get(deleted.headers["location"]).text) == []
    assert browser.get(f"/console/tags/{tag_id}/delete").status_code == 404
    removal = _timeline(chart.text).split("</li>")[0]
    assert "タグ削除: sale" in removal and "staff:admin@example.jp" in removal
    assert '<li class="muted">' in chart.text.split('id="tags"', 1)[1].split("</section>")[0]


def test_chart_chips_take_the_tag_colour(
    db: Database, hub_url: str, shop: Shop, channel: ChannelSetup
) -> None:
    friend = add_friend(db, channel.channel_pk, "U" + "1" * 32, tags=("vip",))
    add_friend(db, channel.channel_pk, "U" + "2" * 32, tags=("常連",))
    browser = signed_in(db, hub_url, shop)
    tag_id = TAG_ROW.findall(browser.get("/console/tags").text)[0]
    browser.submit(
        "/console/tags", f"/console/tags/{tag_id}", {"name": "vip", "colour": "pink", "folder": ""}
    )

    chart = browser.get(f"/console/friends/{friend}")
    listing = browser.get("/console/friends")

    assert '<li class="chip tag-pink">' in chart.text
    # The add field offers the shop's other tags, so staff pick one instead of a near-copy.
    offered = re.findall(r'<option value="([^"]+)">', chart.text.split('id="shop-tags"')[1])
    assert offered == ["常連"]
    assert '<span class="chip tag-pink">vip</span>' in listing.text


def test_operators_and_viewers_have_no_tag_management_and_are_told_why(
    db: Database, hub_url: str, shop: Shop, channel: ChannelSetup
) -> None:
    add_friend(db, channel.channel_pk, "U" + "1" * 32, tags=("vip",))
    admin = signed_in(db, hub_url, shop, Role.ADMIN)
    tag_id = TAG_ROW.findall(admin.get("/console/tags").text)[0]

    for role in (Role.OPERATOR, Role.VIEWER):
        browser = signed_in(db, hub_url, shop, role)
        page = browser.get("/console/tags")
        friends = browser.get("/console/friends")
        create = browser.submit("/console/friends", "/console/tags", {"name": "x"})
        delete = browser.submit("/console/friends", f"/console/tags/{tag_id}/delete", {})

        assert page.status_code == 403, role
        assert "「管理者」以上の権限が必要です" in page.text
        assert 'href="/console/tags"' not in friends.text
        assert (create.status_code, delete.status_code) == (403, 403)
    assert 'href="/console/tags"' in admin.get("/console/friends").text
    assert "vip" in admin.get("/console/tags").text


def _timeline(html: str) -> str:
    return html.split('class="card timeline"', 1)[1]
