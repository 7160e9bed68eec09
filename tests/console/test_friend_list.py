"""The friends list's filters, sort and bulk actions as staff use them in the console."""

from __future__ import annotations

import re

from sqlalchemy import select

from core.audit import AuditLog
from core.db import Database
from core.tenancy import Shop
from crm import fields
from crm.field_schemas import FieldDefinitionIn, FieldType
from idlink.models import Friend, FriendTag, Tag
from sandbox.line.server import SandboxServer
from staff.models import Role
from tests.api.admin_support import add_friend
from tests.console.support import Browser, add_staff
from tests.console.test_friends import rows, signed_in, user_id
from tests.factories import ChannelSetup, make_channel, make_shop
from tests.messaging.people import set_friend

BULK_FORM = re.compile(r'action="(/console/friends/bulk\?[^"]*)"')


def tagged(db: Database, name: str) -> set[int]:
    with db.session_scope() as session:
        return set(
            session.scalars(
                select(FriendTag.friend_id)
                .join(Tag, Tag.id == FriendTag.tag_id)
                .where(Tag.name == name)
            )
        )


def test_more_filters_and_a_sort_narrow_and_order_the_list(
    db: Database, hub_url: str, shop: Shop, channel: ChannelSetup
) -> None:
    a = add_friend(db, channel.channel_pk, user_id(1), display_name="あおい", tags=("vip", "常連"))
    b = add_friend(db, channel.channel_pk, user_id(2), display_name="いつき", tags=("vip",))
    c = add_friend(db, channel.channel_pk, user_id(3), display_name="うみ", tags=("常連",))
    browser = signed_in(db, hub_url, shop)

    any_of = browser.get("/console/friends?tags_any=vip&tags_any=常連&sort=display_name")
    none_of = browser.get("/console/friends?tags_none=vip")
    empty_form = browser.get(
        "/console/friends?q=&status=&tags_any=&owner=&purchases_min=&never_messaged=&sort=newest"
    )

    assert rows(any_of.text) == [a, b, c] and "3 人" in any_of.text
    assert rows(none_of.text) == [c] and "1 人" in none_of.text
    assert rows(empty_form.text) == [c, b, a]
    assert "並べ替え" in any_of.text and "詳しい絞り込み" in any_of.text


def test_an_operator_tags_the_filtered_friends_in_one_go_and_sees_it_done(
    db: Database, hub_url: str, shop: Shop, channel: ChannelSetup
) -> None:
    vip = [add_friend(db, channel.channel_pk, user_id(n), tags=("vip",)) for n in (1, 2)]
    other = add_friend(db, channel.channel_pk, user_id(3))
    browser = signed_in(db, hub_url, shop)
    listed = browser.get("/console/friends?tags_all=vip")
    action = BULK_FORM.search(listed.text)
    assert action, "no bulk form on the list"

    started = browser.submit(
        "/console/friends?tags_all=vip",
        action.group(1).replace("&amp;", "&"),
        {"action": "add_tag", "tag": " 春の案内 "},
    )
    progress = browser.get(started.headers["location"])
    partial = browser.get(started.headers["location"], headers={"HX-Request": "true"})

    assert started.status_code == 303, started.text.split("<main")[1][:800]
    assert tagged(db, "春の案内") == set(vip) and other not in tagged(db, "春の案内")
    assert "完了: 2 人を変更しました。" in progress.text and 'value="2"' in progress.text
    assert partial.text.lstrip().startswith('<section class="card" id="progress"')
    assert "hx-trigger" not in partial.text
    with db.session_scope() as session:
        entry = session.scalars(
            select(AuditLog).where(AuditLog.action == "friends.bulk_add_tag")
        ).one()
        assert entry.actor == "staff:operator@example.jp" and entry.detail["friends"] == 2


def test_the_csv_export_and_the_segment_save_follow_the_filters_and_roles(
    db: Database, hub_url: str, shop: Shop, channel: ChannelSetup
) -> None:
    add_friend(db, channel.channel_pk, user_id(1), display_name="@SUM(A1)", tags=("vip",))
    add_friend(db, channel.channel_pk, user_id(2), display_name="佐藤")
    operator = signed_in(db, hub_url, shop)
    admin = signed_in(db, hub_url, shop, Role.ADMIN)
    viewer = signed_in(db, hub_url, shop, Role.VIEWER)

    csv = operator.get("/console/friends/export.csv?tags_any=vip")
    refused_csv = viewer.get("/console/friends/export.csv?tags_any=vip")
    refused_segment = operator.submit(
        "/console/friends", "/console/friends/segment?tags_any=vip", {"name": "vip"}
    )
    saved = admin.submit(
        "/console/friends", "/console/friends/segment?tags_any=vip", {"name": "vip"}
    )
    back = admin.get(saved.headers["location"])

    assert csv.status_code == 200 and csv.content.startswith(b"\xef\xbb\xbf")
    assert "'@SUM(A1)" in csv.content.decode("utf-8-sig") and "佐藤" not in csv.text
    assert refused_csv.status_code == 403 and refused_segment.status_code == 403
    assert saved.status_code == 303 and "セグメント「vip」として保存しました。" in back.text
    assert "Download CSV" not in viewer.get("/console/friends").text
    assert "CSV をダウンロード" not in viewer.get("/console/friends").text
    assert "CSV をダウンロード" in operator.get("/console/friends").text


def test_a_viewer_cannot_act_in_bulk(
    db: Database, hub_url: str, shop: Shop, channel: ChannelSetup
) -> None:
    add_friend(db, channel.channel_pk, user_id(1), tags=("vip",))
    add_staff(db, shop, "viewer@example.jp", Role.VIEWER)
    viewer = Browser(hub_url)
    viewer.sign_in("viewer@example.jp")

    refused = viewer.submit(
        "/console/friends", "/console/friends/bulk", {"action": "add_tag", "tag": "x"}
    )

    assert refused.status_code == 403 and "「オペレーター」以上の権限が必要です" in refused.text
    assert tagged(db, "x") == set()


def test_the_follow_route_select_offers_the_shops_routes_and_filters(
    db: Database, hub_url: str, line_sandbox: SandboxServer, shop: Shop, channel: ChannelSetup
) -> None:
    store, web = (add_friend(db, channel.channel_pk, user_id(n)) for n in (1, 2))
    set_friend(db, store, follow_route="qr_store")
    set_friend(db, web, follow_route="web<b>")
    other = make_channel(db, line_sandbox, hub_url, make_shop(db))
    set_friend(db, add_friend(db, other.channel_pk, user_id(3)), follow_route="other_shop_qr")
    browser = signed_in(db, hub_url, shop)

    listed = browser.get("/console/friends")
    by_route = browser.get("/console/friends?follow_route=qr_store")

    offered = re.search(r'<select id="follow_route".*?</select>', listed.text, re.S)
    assert offered and "流入経路" in listed.text
    assert re.findall(r'<option value="([^"]*)"', offered.group(0)) == [
        "",
        "qr_store",
        "web&lt;b&gt;",
    ]
    assert rows(by_route.text) == [store] and "1 人" in by_route.text
    assert re.search(r'<details class="more grow"\s+open', by_route.text)


def test_the_custom_field_filter_offers_each_fields_operators_and_filters(
    db: Database, hub_url: str, shop: Shop, channel: ChannelSetup
) -> None:
    regular, gold, none = (add_friend(db, channel.channel_pk, user_id(n)) for n in (1, 2, 3))
    with db.session_scope() as session:
        for key, label, kind in (
            ("visits", "来店回数", FieldType.NUMBER),
            ("rank", "ランク", FieldType.TEXT),
        ):
            fields.define(
                session,
                shop_id=shop.id,
                spec=FieldDefinitionIn(key=key, label=label, type=kind),
                actor="t",
            )
        for friend_id, visits, rank in ((regular, "5", "silver"), (gold, "1", "gold")):
            friend = session.get_one(Friend, friend_id)
            fields.set_value(session, friend=friend, key="visits", value=visits, actor="t")
            fields.set_value(session, friend=friend, key="rank", value=rank, actor="t")
    browser = signed_in(db, hub_url, shop)

    listed = browser.get("/console/friends")
    at_least = browser.get("/console/friends?field_condition=visits:gte&field_value=3")
    has_rank = browser.get("/console/friends?field_condition=rank:exists&field_value=")
    no_value = browser.get("/console/friends?field_condition=rank:eq&field_value=")
    unfit = browser.get("/console/friends?field_condition=visits:gte&field_value=たくさん")
    csv = browser.get("/console/friends/export.csv?field_condition=rank:contains&field_value=gol")

    offered = re.search(r'<select id="field_condition".*?</select>', listed.text, re.S)
    assert offered and "友だち情報欄" in listed.text
    options = re.findall(r'<option value="([^"]+)"[^>]*>([^<]+)<', offered.group(0))
    assert ("visits:gte", "来店回数: 以上") in options and (
        "rank:contains",
        "ランク: を含む",
    ) in options
    assert "visits:contains" not in offered.group(0) and "rank:gte" not in offered.group(0)
    assert rows(at_least.text) == [regular] and "1 人" in at_least.text
    assert 'value="visits:gte" selected' in at_least.text and 'value="3"' in at_least.text
    assert rows(has_rank.text) == [gold, regular]
    assert rows(no_value.text) == [none, gold, regular]
    assert unfit.status_code == 200 and rows(unfit.text) == [] and 'role="alert"' in unfit.text
    assert "合いません" in unfit.text
    lines = csv.content.decode("utf-8-sig").splitlines()
    assert len(lines) == 2 and user_id(2) in lines[1]


def test_an_operator_sets_a_field_on_the_filtered_friends_from_the_list(
    db: Database, hub_url: str, shop: Shop, channel: ChannelSetup
) -> None:
    vip = [add_friend(db, channel.channel_pk, user_id(n), tags=("vip",)) for n in (1, 2)]
    other = add_friend(db, channel.channel_pk, user_id(3))
    with db.session_scope() as session:
        fields.define(
            session,
            shop_id=shop.id,
            spec=FieldDefinitionIn(key="visits", label="来店回数", type=FieldType.NUMBER),
            actor="test",
        )
    browser = signed_in(db, hub_url, shop)
    listed = browser.get("/console/friends?tags_all=vip")
    forms = BULK_FORM.findall(listed.text)

    started = browser.submit(
        "/console/friends?tags_all=vip",
        forms[0].replace("&amp;", "&"),
        {"action": "set_field", "field": "visits", "value": "3"},
    )
    refused = browser.submit(
        "/console/friends?tags_all=vip",
        forms[0].replace("&amp;", "&"),
        {"action": "set_field", "field": "visits", "value": "三回"},
    )

    assert "来店回数" in listed.text and "項目を設定" in listed.text
    assert started.status_code == 303, started.text.split("<main")[1][:800]
    assert "完了: 2 人を変更しました。" in browser.get(started.headers["location"]).text
    assert refused.status_code == 400
    with db.session_scope() as session:
        values = [
            [f.value for f in fields.fields_of(session, shop.id, friend_id)]
            for friend_id in (*vip, other)
        ]
    assert values == [[3], [3], [None]]
