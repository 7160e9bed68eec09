"""The friends list and the customer chart as staff use them: search, filters, pages, tags."""

from __future__ import annotations

import re

from sqlalchemy import select

from core.audit import AuditLog
from core.db import Database
from core.tenancy import Shop
from crm.models import Note
from staff.models import Role
from tests.api.admin_support import add_friend, add_link, add_member
from tests.console.support import Browser, add_staff
from tests.factories import ChannelSetup

ROW = re.compile(r'class="friend-row" href="/console/friends/(\d+)"')


def user_id(n: int) -> str:
    return f"U{n:032x}"


def rows(html: str) -> list[int]:
    return [int(found) for found in ROW.findall(html)]


def signed_in(db: Database, hub_url: str, shop: Shop, role: Role = Role.OPERATOR) -> Browser:
    add_staff(db, shop, f"{role.value}@example.jp", role)
    browser = Browser(hub_url)
    assert browser.sign_in(f"{role.value}@example.jp").status_code == 303
    return browser


def test_friends_are_found_by_name_or_member_number_and_filtered(
    db: Database, hub_url: str, shop: Shop, channel: ChannelSetup
) -> None:
    hanako = add_friend(db, channel.channel_pk, user_id(1), display_name="佐藤 花子", tags=("vip",))
    ichiro = add_friend(db, channel.channel_pk, user_id(2), display_name="鈴木 一郎")
    misaki = add_friend(db, channel.channel_pk, user_id(3), display_name="高橋 美咲", blocked=True)
    add_link(db, shop.id, ichiro, add_member(db, shop.id, "M-1002"))
    browser = signed_in(db, hub_url, shop)

    everyone = browser.get("/console/friends")
    by_name = browser.get("/console/friends", params={"q": "花子"})
    by_number = browser.get("/console/friends", params={"q": "M-1002"})
    blocked = browser.get(
        "/console/friends", params={"status": "blocked", "q": "", "linked": "", "tag": ""}
    )
    linked = browser.get("/console/friends", params={"linked": "true"})
    tagged = browser.get("/console/friends", params={"tag": "vip"})

    assert rows(everyone.text) == [misaki, ichiro, hanako] and "3 人" in everyone.text
    assert rows(by_name.text) == [hanako] and "1 人" in by_name.text
    assert rows(by_number.text) == [ichiro]
    assert rows(blocked.text) == [misaki]
    assert rows(linked.text) == [ichiro] and "M-1002" in linked.text
    assert rows(tagged.text) == [hanako]


def test_the_list_pages_on_with_a_cursor_and_keeps_the_filters(
    db: Database, hub_url: str, shop: Shop, channel: ChannelSetup
) -> None:
    ids = [
        add_friend(db, channel.channel_pk, user_id(n), display_name=f"客 {n}") for n in range(55)
    ]
    browser = signed_in(db, hub_url, shop)

    first = browser.get("/console/friends", params={"q": "客"})
    next_link = re.search(r'href="(/console/friends\?[^"]+)">次のページ', first.text)
    assert next_link
    second = browser.get(next_link.group(1).replace("&amp;", "&"))

    assert "55 人" in first.text and len(rows(first.text)) == 50
    assert rows(first.text) + rows(second.text) == ids[::-1]
    assert "q=%E5%AE%A2" in next_link.group(1)


def test_an_htmx_search_gets_only_the_results(
    db: Database, hub_url: str, shop: Shop, channel: ChannelSetup
) -> None:
    hanako = add_friend(db, channel.channel_pk, user_id(1), display_name="佐藤 花子")
    browser = signed_in(db, hub_url, shop)

    partial = browser.get(
        "/console/friends",
        params={"q": "花子"},
        headers={"HX-Request": "true", "HX-Target": "results"},
    )

    assert partial.text.lstrip().startswith('<section id="results"')
    assert rows(partial.text) == [hanako] and "<html" not in partial.text


def test_the_chart_shows_the_member_and_an_operator_tags_with_an_audit_record(
    db: Database, hub_url: str, shop: Shop, channel: ChannelSetup
) -> None:
    friend_id = add_friend(db, channel.channel_pk, user_id(1), display_name="佐藤 花子")
    add_link(db, shop.id, friend_id, add_member(db, shop.id, "M-1001", name="佐藤 花子"))
    browser = signed_in(db, hub_url, shop)

    chart = browser.get(f"/console/friends/{friend_id}")
    added = browser.submit(
        f"/console/friends/{friend_id}", f"/console/friends/{friend_id}/tags", {"name": " 常連 "}
    )
    after = browser.get(f"/console/friends/{friend_id}")

    assert chart.status_code == 200 and "M-1001" in chart.text and "会員番号" in chart.text
    assert added.status_code == 303 and added.headers["location"] == f"/console/friends/{friend_id}"
    assert "<span>常連</span>" in after.text
    assert "タグ追加: 常連" in after.text and "staff:operator@example.jp" in after.text
    with db.session_scope() as session:
        entry = session.scalars(select(AuditLog).where(AuditLog.action == "friend.tag_added")).one()
        assert entry.actor == "staff:operator@example.jp"
        assert entry.detail == {"tag": "常連", "ip": "127.0.0.1"}
        assert entry.subject_id == str(friend_id)


def test_tagging_through_htmx_returns_the_tags_part_and_removal_works(
    db: Database, hub_url: str, shop: Shop, channel: ChannelSetup
) -> None:
    friend_id = add_friend(db, channel.channel_pk, user_id(1), tags=("vip",))
    browser = signed_in(db, hub_url, shop)
    htmx = {"HX-Request": "true", "HX-Target": "tags"}

    added = browser.submit(
        f"/console/friends/{friend_id}",
        f"/console/friends/{friend_id}/tags",
        {"name": "常連"},
        headers=htmx,
    )
    removed = browser.submit(
        f"/console/friends/{friend_id}",
        f"/console/friends/{friend_id}/tags/remove",
        {"name": "vip"},
        headers=htmx,
    )

    assert added.text.lstrip().startswith('<section class="card" id="tags">')
    assert "<span>常連</span>" in added.text and "<span>vip</span>" in added.text
    assert "<span>vip</span>" not in removed.text and "<span>常連</span>" in removed.text


def test_a_viewer_sees_the_member_number_but_not_the_name(
    db: Database, hub_url: str, shop: Shop, channel: ChannelSetup
) -> None:
    friend_id = add_friend(db, channel.channel_pk, user_id(1), display_name="はなこ")
    add_link(db, shop.id, friend_id, add_member(db, shop.id, "M-1001", name="佐藤 花子"))
    browser = signed_in(db, hub_url, shop, Role.VIEWER)

    chart = browser.get(f"/console/friends/{friend_id}")

    assert "M-1001" in chart.text and "佐藤 花子" not in chart.text
    assert "この権限では表示されません" in chart.text


def test_an_operator_adds_pins_and_edits_their_note_and_another_cannot_edit_it(
    db: Database, hub_url: str, shop: Shop, channel: ChannelSetup
) -> None:
    friend_id = add_friend(db, channel.channel_pk, user_id(1), display_name="佐藤 花子")
    author = signed_in(db, hub_url, shop)
    add_staff(db, shop, "ken@example.jp", Role.OPERATOR)
    colleague = Browser(hub_url)
    colleague.sign_in("ken@example.jp")
    chart = f"/console/friends/{friend_id}"

    author.submit(chart, f"{chart}/notes", {"body": "カラーは明るめが好み"})
    with db.session_scope() as session:
        note_id = session.scalars(select(Note.id)).one()
    pinned = colleague.submit(chart, f"{chart}/notes/{note_id}/pin", {"pinned": "true"})
    refused = colleague.submit(chart, f"{chart}/notes/{note_id}/edit", {"body": "x"})
    edited = author.submit(
        chart,
        f"{chart}/notes/{note_id}/edit",
        {"body": "カラーは暗めに変更"},
        headers={"HX-Request": "true", "HX-Target": "notes"},
    )

    assert pinned.status_code == 303
    assert refused.status_code == 403 and "書いた本人だけ" in refused.text
    assert edited.text.lstrip().startswith('<section class="card" id="notes">')
    assert "カラーは暗めに変更" in edited.text and "ピン留め" in edited.text
    page = author.get(chart)
    assert "メモ編集: カラーは暗めに変更" in page.text
    assert "メモ追加: カラーは明るめが好み" in page.text  # the earlier text, from the log


def test_an_operator_assigns_an_owner_from_the_shops_staff(
    db: Database, hub_url: str, shop: Shop, channel: ChannelSetup
) -> None:
    friend_id = add_friend(db, channel.channel_pk, user_id(1))
    browser = signed_in(db, hub_url, shop)
    add_staff(db, shop, "ken@example.jp", Role.VIEWER)
    chart = f"/console/friends/{friend_id}"

    page = browser.get(chart)
    assigned = browser.submit(
        chart,
        f"{chart}/owner",
        {"email": "ken@example.jp"},
        headers={"HX-Request": "true", "HX-Target": "owner"},
    )

    assert '<option value="ken@example.jp"' in page.text and "担当者" in page.text
    assert assigned.text.lstrip().startswith('<section class="card" id="owner">')
    assert '<option value="ken@example.jp" selected>' in assigned.text
    assert "担当者: ken@example.jp" in browser.get(chart).text
