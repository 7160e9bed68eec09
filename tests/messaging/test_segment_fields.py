"""Segment rules on custom fields: each type compared as its type, wrong rules refused."""

from __future__ import annotations

from typing import Any

import pytest

from core.db import Database
from core.tenancy import Channel
from crm import fields
from crm.field_schemas import FieldDefinitionIn
from idlink.models import Friend
from messaging.segments import segments
from messaging.segments.field_rules import InvalidFieldRule
from messaging.segments.schemas import SegmentSpec
from tests.api.admin_support import add_friend
from tests.factories import ChannelSetup

DEFINITIONS: list[dict[str, Any]] = [
    {"key": "hair", "label": "髪質", "type": "choice", "choices": ["直毛", "くせ毛"]},
    {"key": "likes", "label": "好み", "type": "choices", "choices": ["カット", "カラー", "パーマ"]},
    {"key": "visits", "label": "来店回数", "type": "number"},
    {"key": "anniversary", "label": "記念日", "type": "date"},
    {"key": "dm_ok", "label": "DM可", "type": "yes_no"},
    {"key": "memo", "label": "メモ", "type": "text"},
]
VALUES: dict[str, dict[str, Any]] = {
    "aoi": {"hair": "直毛", "likes": ["カット", "カラー"], "visits": 12, "dm_ok": True},
    "ken": {"hair": "くせ毛", "likes": ["パーマ"], "visits": 3, "anniversary": "2026-04-01"},
    "mio": {"visits": "9.5", "dm_ok": False, "memo": "100%オーガニック希望"},
    "nao": {},
}


@pytest.fixture
def people(db: Database, channel: ChannelSetup) -> dict[str, int]:
    ids = {name: add_friend(db, channel.channel_pk, f"U{n:032x}") for n, name in enumerate(VALUES)}
    with db.session_scope() as session:
        for spec in DEFINITIONS:
            fields.define(
                session, shop_id=channel.shop_id, spec=FieldDefinitionIn(**spec), actor="t"
            )
        for name, values in VALUES.items():
            friend = session.get_one(Friend, ids[name])
            for key, value in values.items():
                fields.set_value(session, friend=friend, key=key, value=value, actor="t")
    return ids


CASES: list[tuple[dict[str, Any], set[str]]] = [
    ({"field": "hair", "value": "直毛"}, {"aoi"}),
    ({"field": "hair", "op": "ne", "value": "直毛"}, {"ken", "mio", "nao"}),
    ({"field": "hair", "op": "in", "value": ["直毛", "くせ毛"]}, {"aoi", "ken"}),
    ({"field": "likes", "value": "カラー"}, {"aoi"}),
    ({"field": "likes", "op": "in", "value": ["カラー", "パーマ"]}, {"aoi", "ken"}),
    ({"field": "likes", "op": "ne", "value": "カット"}, {"ken", "mio", "nao"}),
    ({"field": "visits", "op": "gte", "value": 9.5}, {"aoi", "mio"}),
    ({"field": "visits", "op": "lte", "value": "9.5"}, {"ken", "mio"}),
    ({"field": "visits", "value": 12}, {"aoi"}),
    ({"field": "anniversary", "op": "lte", "value": "2026-12-31"}, {"ken"}),
    ({"field": "dm_ok", "value": False}, {"mio"}),
    ({"field": "dm_ok", "op": "exists"}, {"aoi", "mio"}),
    ({"field": "memo", "op": "contains", "value": "100%"}, {"mio"}),
    ({"field": "memo", "op": "contains", "value": "0%オ"}, {"mio"}),
    ({"field": "memo", "op": "contains", "value": "_"}, set()),
    (
        {
            "all": [
                {"field": "visits", "op": "gte", "value": 3},
                {"not": {"field": "dm_ok", "value": True}},
            ]
        },
        {"ken", "mio"},
    ),
]


@pytest.mark.parametrize(("rules", "expected"), CASES, ids=[str(r) for r, _ in CASES])
def test_each_field_rule_selects_exactly_its_friends(
    db: Database, channel: ChannelSetup, people: dict[str, int], rules: dict, expected: set
) -> None:
    with db.session_scope() as session:
        segment = segments.save(
            session, shop_id=channel.shop_id, spec=SegmentSpec(name="s", rules=rules), actor="t"
        )
        query = segments.audience(
            session, segment=segment, channel=session.get_one(Channel, channel.channel_pk)
        )
        selected = set(session.scalars(query))

    assert selected == {people[name] for name in expected}


@pytest.mark.parametrize(
    ("rules", "message"),
    [
        ({"field": "colour", "value": "x"}, "no custom field 'colour'"),
        ({"field": "visits", "op": "contains", "value": "1"}, "eq, ne, in, gte, lte, exists"),
        ({"field": "visits", "op": "gte", "value": "many"}, "takes a number"),
        ({"field": "hair", "value": "ストレート"}, "one of: 直毛, くせ毛"),
        ({"field": "anniversary", "value": "April"}, "YYYY-MM-DD"),
    ],
)
def test_a_rule_that_does_not_fit_the_field_is_refused_when_saved(
    db: Database, channel: ChannelSetup, people: dict[str, int], rules: dict, message: str
) -> None:
    with db.session_scope() as session, pytest.raises(InvalidFieldRule, match=message):
        segments.save(
            session, shop_id=channel.shop_id, spec=SegmentSpec(name="s", rules=rules), actor="t"
        )
