"""Custom fields in the console: filled in on the chart by operators, read by viewers, defined
by admins on their own page."""

from __future__ import annotations

from sqlalchemy import select

from core.audit import AuditLog
from core.db import Database
from core.tenancy import Shop
from crm import fields
from crm.field_schemas import FieldDefinitionIn
from staff.models import Role
from tests.api.admin_support import add_friend
from tests.console.support import Browser, add_staff, csrf_of
from tests.factories import ChannelSetup


def _define(db: Database, shop: Shop) -> None:
    with db.session_scope() as session:
        for spec in (
            FieldDefinitionIn(key="hair", label="髪質", type="choice", choices=["直毛", "くせ毛"]),
            FieldDefinitionIn(
                key="likes", label="好み", type="choices", choices=["カット", "カラー"]
            ),
            FieldDefinitionIn(key="visits", label="来店回数", type="number"),
        ):
            fields.define(session, shop_id=shop.id, spec=spec, actor="t")


def signed_in(db: Database, hub_url: str, shop: Shop, role: Role) -> Browser:
    add_staff(db, shop, f"{role.value}@example.jp", role)
    browser = Browser(hub_url)
    assert browser.sign_in(f"{role.value}@example.jp").status_code == 303
    return browser


def test_an_operator_sets_fields_inline_and_the_timeline_names_them(
    db: Database, hub_url: str, shop: Shop, channel: ChannelSetup
) -> None:
    friend_id = add_friend(db, channel.channel_pk, "U" + "1" * 32)
    _define(db, shop)
    browser = signed_in(db, hub_url, shop, Role.OPERATOR)
    chart = f"/console/friends/{friend_id}"
    htmx = {"hx-request": "true", "hx-target": "fields"}

    hair = browser.submit(chart, f"{chart}/fields/hair", {"value": "くせ毛"}, headers=htmx)
    page = browser.get(chart)
    likes = browser.post(
        f"{chart}/fields/likes",
        {"csrf_token": csrf_of(page.text), "value": ["カット", "カラー"]},  # type: ignore[dict-item]
        headers=htmx,
    )
    wrong = browser.submit(chart, f"{chart}/fields/visits", {"value": "たくさん"}, headers=htmx)
    plain = browser.submit(chart, f"{chart}/fields/visits", {"value": "12"})
    after = browser.get(chart)

    assert hair.status_code == 200 and 'id="fields"' in hair.text and "保存しました" in hair.text
    assert '<option value="くせ毛" selected>' in hair.text
    assert likes.status_code == 200 and likes.text.count("checked") == 2
    assert wrong.status_code == 200 and "takes a number" in wrong.text
    assert plain.status_code == 303
    assert 'value="12"' in after.text
    assert "髪質: くせ毛" in after.text and "operator@example.jp" in after.text
    with db.session_scope() as session:
        actions = session.scalars(
            select(AuditLog.action).where(AuditLog.actor == "staff:operator@example.jp")
        ).all()
    assert actions.count("friend.field_set") == 3


def test_a_viewer_reads_fields_but_cannot_set_them(
    db: Database, hub_url: str, shop: Shop, channel: ChannelSetup
) -> None:
    friend_id = add_friend(db, channel.channel_pk, "U" + "1" * 32)
    _define(db, shop)
    with db.session_scope() as session:
        from idlink.models import Friend

        fields.set_value(
            session, friend=session.get_one(Friend, friend_id), key="visits", value=3, actor="t"
        )
    browser = signed_in(db, hub_url, shop, Role.VIEWER)
    chart = f"/console/friends/{friend_id}"

    page = browser.get(chart)
    refused = browser.submit(chart, f"{chart}/fields/visits", {"value": "4"})

    assert (
        "来店回数" in page.text and "<dd>3</dd>" in page.text and "fields/visits" not in page.text
    )
    assert refused.status_code == 403


def test_admins_define_fields_on_their_page_and_operators_may_not(
    db: Database, hub_url: str, shop: Shop, channel: ChannelSetup
) -> None:
    admin = signed_in(db, hub_url, shop, Role.ADMIN)
    operator = signed_in(db, hub_url, shop, Role.OPERATOR)

    created = admin.submit(
        "/console/fields",
        "/console/fields",
        {"key": "rank", "label": "ランク", "type": "choice", "choices": "一般\r\nVIP\r\n"},
    )
    no_choices = admin.submit(
        "/console/fields", "/console/fields", {"key": "size", "label": "サイズ", "type": "choice"}
    )
    page = admin.get("/console/fields")
    denied = operator.get("/console/fields")
    deleted = admin.submit("/console/fields", "/console/fields/rank/delete", {})

    assert created.status_code == 303
    assert no_choices.status_code == 400 and "needs its `choices`" in no_choices.text
    assert "ランク" in page.text and "一般, VIP" in page.text and "単一選択" in page.text
    assert denied.status_code == 403 and "「管理者」以上の権限が必要です" in denied.text
    assert deleted.status_code == 303
    assert "ランク" not in admin.get("/console/fields").text
