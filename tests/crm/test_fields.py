"""Custom fields: typed definitions per shop, values checked against them, changes audited."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select

from core.audit import AuditLog
from core.db import Database
from core.tenancy import Shop
from crm import fields
from crm.field_schemas import FieldDefinitionIn
from crm.fields import FieldInUse, InvalidFieldValue
from idlink.models import Friend
from tests.api.admin_support import add_friend
from tests.factories import ChannelSetup, make_shop

pytestmark = pytest.mark.fast

SPECS: list[dict[str, Any]] = [
    {"key": "hair", "label": "髪質", "type": "choice", "choices": ["直毛", "くせ毛"]},
    {"key": "likes", "label": "好み", "type": "choices", "choices": ["カット", "カラー", "パーマ"]},
    {"key": "visits", "label": "来店回数", "type": "number"},
    {"key": "anniversary", "label": "記念日", "type": "date"},
    {"key": "dm_ok", "label": "DM可", "type": "yes_no"},
    {"key": "memo", "label": "メモ", "type": "text"},
]


def define_all(db: Database, shop_id: int) -> None:
    with db.session_scope() as session:
        for spec in SPECS:
            fields.define(
                session, shop_id=shop_id, spec=FieldDefinitionIn(**spec), actor="staff:a@x.jp"
            )


def test_values_are_stored_by_type_and_read_back_in_field_order(
    db: Database, shop: Shop, channel: ChannelSetup
) -> None:
    friend_id = add_friend(db, channel.channel_pk, "U" + "1" * 32)
    define_all(db, shop.id)

    with db.session_scope() as session:
        friend = session.get_one(Friend, friend_id)
        for key, raw in [
            ("hair", "くせ毛"),
            ("likes", ["パーマ", "カット", "カット"]),
            ("visits", "1,200"),
            ("anniversary", "2026-04-01"),
            ("dm_ok", "はい"),
            ("memo", "  前髪短め  "),
        ]:
            fields.set_value(session, friend=friend, key=key, value=raw, actor="staff:a@x.jp")

    with db.session_scope() as session:
        read = [(f.definition.key, f.value) for f in fields.fields_of(session, shop.id, friend_id)]
    assert read == [
        ("hair", "くせ毛"),
        ("likes", ["カット", "パーマ"]),
        ("visits", Decimal(1200)),
        ("anniversary", date(2026, 4, 1)),
        ("dm_ok", True),
        ("memo", "前髪短め"),
    ]


@pytest.mark.parametrize(
    ("key", "raw", "message"),
    [
        ("hair", "ストレート", "one of: 直毛, くせ毛"),
        ("likes", ["カット", "縮毛矯正"], "one of"),
        ("visits", "たくさん", "a number"),
        ("visits", "1e20", "a finite number below"),
        ("visits", True, "not true/false"),
        ("anniversary", "2026/04/01", "YYYY-MM-DD"),
        ("dm_ok", "maybe", "yes or no"),
        ("memo", "あ" * 501, "at most 500"),
        ("hair", ["直毛"], "not a list"),
    ],
)
def test_a_value_that_does_not_fit_the_type_is_refused_and_nothing_changes(
    db: Database, shop: Shop, channel: ChannelSetup, key: str, raw: object, message: str
) -> None:
    friend_id = add_friend(db, channel.channel_pk, "U" + "1" * 32)
    define_all(db, shop.id)

    with db.session_scope() as session, pytest.raises(InvalidFieldValue, match=message):
        fields.set_value(
            session, friend=session.get_one(Friend, friend_id), key=key, value=raw, actor="t"
        )
    with db.session_scope() as session:
        assert fields.values_for(session, shop.id, [friend_id]) == {}


def test_each_change_is_audited_with_its_author_and_the_earlier_value(
    db: Database, shop: Shop, channel: ChannelSetup
) -> None:
    friend_id = add_friend(db, channel.channel_pk, "U" + "1" * 32)
    define_all(db, shop.id)

    with db.session_scope() as session:
        friend = session.get_one(Friend, friend_id)
        fields.set_value(session, friend=friend, key="visits", value=3, actor="staff:a@x.jp")
        fields.set_value(session, friend=friend, key="visits", value="3", actor="staff:b@x.jp")
        fields.set_value(session, friend=friend, key="visits", value=4.5, actor="staff:b@x.jp")
        fields.set_value(session, friend=friend, key="visits", value=None, actor="token:crm")

    with db.session_scope() as session:
        changes = [
            (e.actor, e.action, e.detail["before"], e.detail["value"])
            for e in session.scalars(
                select(AuditLog).where(AuditLog.subject_type == "friend").order_by(AuditLog.id)
            )
        ]
    assert changes == [
        ("staff:a@x.jp", "friend.field_set", None, "3"),
        ("staff:b@x.jp", "friend.field_set", "3", "4.5"),
        ("token:crm", "friend.field_cleared", "4.5", None),
    ]


def test_a_fields_type_and_chosen_choices_are_kept_while_friends_have_values(
    db: Database, shop: Shop, channel: ChannelSetup
) -> None:
    friend_id = add_friend(db, channel.channel_pk, "U" + "1" * 32)
    define_all(db, shop.id)
    with db.session_scope() as session:
        friend = session.get_one(Friend, friend_id)
        fields.set_value(session, friend=friend, key="likes", value=["カラー"], actor="t")

    with db.session_scope() as session, pytest.raises(FieldInUse, match="カラー"):
        fields.define(
            session,
            shop_id=shop.id,
            spec=FieldDefinitionIn(key="likes", label="好み", type="choices", choices=["カット"]),
            actor="t",
        )
    with db.session_scope() as session, pytest.raises(FieldInUse, match="type stays"):
        fields.define(
            session,
            shop_id=shop.id,
            spec=FieldDefinitionIn(key="likes", label="好み", type="text"),
            actor="t",
        )
    with db.session_scope() as session:
        renamed = fields.define(
            session,
            shop_id=shop.id,
            spec=FieldDefinitionIn(
                key="likes", label="ご希望", type="choices", choices=["カラー", "ヘッドスパ"]
            ),
            actor="t",
        )
        assert (renamed.label, renamed.position) == ("ご希望", 1)
        assert fields.delete_definition(session, shop_id=shop.id, key="likes", actor="t") == 1


def test_another_shops_fields_are_not_this_shops(
    db: Database, shop: Shop, channel: ChannelSetup
) -> None:
    friend_id = add_friend(db, channel.channel_pk, "U" + "1" * 32)
    define_all(db, make_shop(db).id)

    with db.session_scope() as session, pytest.raises(fields.FieldNotFound):
        fields.set_value(
            session, friend=session.get_one(Friend, friend_id), key="memo", value="x", actor="t"
        )
