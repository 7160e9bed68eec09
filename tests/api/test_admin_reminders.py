"""Reminder rules through the admin API: declared by name, checked when saved, shop-scoped."""

from __future__ import annotations

from typing import Any

from core.db import Database
from tests.api.admin_support import admin_api
from tests.factories import ChannelSetup, make_shop
from tsunagu.hub import Hub


def _rule(channel: ChannelSetup, **overrides: Any) -> dict[str, Any]:
    rule = {
        "name": "day-before",
        "channel": channel.channel_id,
        "offset_minutes": 24 * 60,
        "messages": [
            {
                "type": "text",
                "text": "明日 {{ booking_time }} {{ booking_service }} でお待ちしています",
            }
        ],
    }
    return rule | overrides


def test_a_rule_is_declared_listed_and_revised_by_a_change(
    db: Database, hub: Hub, channel: ChannelSetup, shop
) -> None:
    api = admin_api(db, hub.settings.public_url, shop)
    created = api.put("/reminder-rules/day-before", _rule(channel))
    assert created.status_code == 200, created.text
    assert created.json()["revision"] == 1
    assert created.json()["spec"]["offset_minutes"] == 1440
    same = api.put("/reminder-rules/day-before", _rule(channel))
    assert same.json()["revision"] == 1
    moved = api.put("/reminder-rules/day-before", _rule(channel, offset_minutes=120))
    assert moved.json()["revision"] == 2
    assert [r["name"] for r in api.get("/reminder-rules").json()["items"]] == ["day-before"]
    assert api.get("/reminder-rules/day-before").json()["figures"] == {}


def test_a_rule_with_a_variable_reminders_do_not_know_is_refused(
    db: Database, hub: Hub, channel: ChannelSetup, shop
) -> None:
    api = admin_api(db, hub.settings.public_url, shop)
    text = [{"type": "text", "text": "{{ coupon_code }}"}]
    refused = api.put("/reminder-rules/day-before", _rule(channel, messages=text))
    assert refused.status_code == 422
    assert "coupon_code" in refused.json()["detail"]
    assert api.get("/reminder-rules").json()["items"] == []


def test_another_shops_rule_is_not_found(
    db: Database, hub: Hub, channel: ChannelSetup, shop
) -> None:
    api = admin_api(db, hub.settings.public_url, shop)
    assert api.put("/reminder-rules/day-before", _rule(channel)).status_code == 200
    theirs = admin_api(db, hub.settings.public_url, make_shop(db))
    assert theirs.get("/reminder-rules/day-before").status_code == 404
    assert theirs.get("/reminder-rules").json()["items"] == []
    assert theirs.put("/reminder-rules/day-before", _rule(channel)).status_code == 404
