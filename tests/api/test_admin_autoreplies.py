"""Auto-replies over the admin API: rules and FAQ entries declared by name, refused with a reason
when invalid, and the tester."""

from __future__ import annotations

from typing import Any

import httpx

from core.db import Database
from core.tenancy import Shop
from tests.api.admin_support import admin_api
from tests.autoreply.support import HOURS_FAQ, text
from tests.factories import ChannelSetup
from tsunagu.hub import Hub


def _rule(channel: ChannelSetup, name: str, **fields: Any) -> dict[str, Any]:
    return {
        "name": name,
        "channel": channel.channel_id,
        "match": "contains",
        "pattern": "予約",
        "actions": {"reply": text("ご予約はこちらから")},
    } | fields


def _detail(response: httpx.Response) -> str:
    return str(response.json())


def test_rules_are_declared_listed_tried_and_deleted(
    db: Database, hub: Hub, hub_url: str, shop: Shop, channel: ChannelSetup
) -> None:
    api = admin_api(db, hub_url, shop)

    created = api.put("/auto-replies/rules/booking", _rule(channel, "booking"))
    assert created.status_code == 200, created.text
    assert created.json()["hits"] == 0
    second = api.put(
        "/auto-replies/rules/cancel",
        _rule(channel, "cancel", match="exact", pattern="予約キャンセル", priority=200),
    )
    assert second.json()["overlaps"] == ["booking"]

    tried = api.post("/auto-replies/try", {"channel": channel.channel_id, "text": "予約キャンセル"})
    assert tried.status_code == 200, tried.text
    assert tried.json()["fires"] == "rule:cancel"
    assert [r["name"] for r in tried.json()["rules"]] == ["cancel", "booking"]

    listed = api.get("/auto-replies/rules").json()["items"]
    assert [(r["name"], r["overlaps"]) for r in listed] == [
        ("cancel", ["booking"]),
        ("booking", ["cancel"]),
    ]
    deleted = httpx.delete(f"{api.base_url}/auto-replies/rules/cancel", headers=api.headers)
    assert deleted.json() == {"deleted": "cancel"}
    assert api.get("/auto-replies/rules/cancel").status_code == 404


def test_invalid_rules_are_refused_with_why_and_nothing_saved(
    db: Database, hub: Hub, hub_url: str, shop: Shop, channel: ChannelSetup
) -> None:
    api = admin_api(db, hub_url, shop)

    hostile = api.put(
        "/auto-replies/rules/r", _rule(channel, "r", match="regex", pattern="(a|aa)+$")
    )
    assert hostile.status_code == 422
    assert "backtracks catastrophically" in _detail(hostile)
    no_pattern = api.put("/auto-replies/rules/r", _rule(channel, "r", pattern=""))
    assert no_pattern.status_code == 422 and "needs a pattern" in _detail(no_pattern)
    bad_reply = api.put(
        "/auto-replies/rules/r", _rule(channel, "r", actions={"reply": [{"type": "text"}]})
    )
    assert bad_reply.status_code == 422 and "needs text" in _detail(bad_reply)
    no_field = api.put(
        "/auto-replies/rules/r", _rule(channel, "r", actions={"set_fields": {"plan": "gold"}})
    )
    assert no_field.status_code == 422 and "no custom field 'plan'" in _detail(no_field)
    other_channel = api.put("/auto-replies/rules/r", _rule(channel, "r") | {"channel": "999"})
    assert other_channel.status_code == 404
    mismatch = api.put("/auto-replies/rules/x", _rule(channel, "r"))
    assert mismatch.status_code == 400

    assert api.get("/auto-replies/rules").json()["items"] == []


def test_faq_entries_are_declared_and_scored(
    db: Database, hub: Hub, hub_url: str, shop: Shop, channel: ChannelSetup
) -> None:
    api = admin_api(db, hub_url, shop)

    saved = api.put("/auto-replies/faq/営業時間", {"channel": channel.channel_id, **HOURS_FAQ})
    assert saved.status_code == 200, saved.text
    tried = api.post(
        "/auto-replies/try", {"channel": channel.channel_id, "text": "何時まで開いてる"}
    )

    body = tried.json()
    assert body["fires"] == "faq:営業時間"
    assert body["reply"] == text(HOURS_FAQ["answer"])
    assert body["faq"][0]["question"] == "何時まで営業していますか"
    assert api.get("/auto-replies/faq").json()["items"][0]["questions"] == HOURS_FAQ["questions"]
