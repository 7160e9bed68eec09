"""Campaigns through the admin API: declared by name, checked when saved, paused and resumed."""

from __future__ import annotations

from datetime import time
from typing import Any

import httpx

from core.db import Database
from messaging.outbox import guardrails
from tests.api.admin_support import AdminApi, add_friend, admin_api
from tests.factories import ChannelSetup, make_shop
from tsunagu.hub import Hub


def _spec(channel: ChannelSetup, **overrides: Any) -> dict[str, Any]:
    spec = {
        "name": "first-purchase-thanks",
        "channel": channel.channel_id,
        "kind": "purchase",
        "trigger": {"purchase_number": 1},
        "messages": [{"type": "text", "text": "{{ display_name }}さん、ありがとうございました"}],
        "delay": {"days": 3, "at": "10:00"},
        "caps": {"per_week": 2},
    }
    return spec | overrides


def _put(api: AdminApi, spec: dict[str, Any]) -> httpx.Response:
    return api.put(f"/campaigns/{spec['name']}", spec)


def test_a_campaign_is_created_then_updated_under_its_name(
    db: Database, hub: Hub, channel: ChannelSetup, shop
) -> None:
    api = admin_api(db, hub.settings.public_url, shop)
    created = _put(api, _spec(channel))
    assert created.status_code == 200, created.text
    body = created.json()
    assert body["status"] == "draft"
    assert body["spec"]["trigger"]["purchase_number"] == 1
    assert body["spec"]["caps"] == {"per_week": 2}

    updated = _put(api, _spec(channel, delay={"days": 1}))
    assert updated.json()["id"] == body["id"]
    assert updated.json()["spec"]["delay"] == {"days": 1}
    listed = api.get("/campaigns").json()["items"]
    assert [c["name"] for c in listed] == ["first-purchase-thanks"]


def test_a_template_line_would_refuse_is_refused_when_saved(
    db: Database, hub: Hub, channel: ChannelSetup, shop
) -> None:
    api = admin_api(db, hub.settings.public_url, shop)
    unknown = _put(api, _spec(channel, messages=[{"type": "text", "text": "{{ nick }}"}]))
    assert unknown.status_code == 422
    assert "unknown variable {{ nick }}" in unknown.json()["detail"]
    booking = _put(api, _spec(channel, messages=[{"type": "text", "text": "{{ booking_time }}"}]))
    assert booking.status_code == 422
    six = _put(api, _spec(channel, messages=[{"type": "text", "text": "x"}] * 6))
    assert six.status_code == 422
    bad_trigger = _put(api, _spec(channel, trigger={"purchase_numbr": 1}))
    assert bad_trigger.status_code == 422
    assert api.get("/campaigns").json()["items"] == []


def test_status_moves_only_where_it_can(
    db: Database, hub: Hub, channel: ChannelSetup, shop
) -> None:
    api = admin_api(db, hub.settings.public_url, shop)
    campaign_id = _put(api, _spec(channel)).json()["id"]
    assert api.post(f"/campaigns/{campaign_id}/schedule", {}).status_code == 409
    assert api.post(f"/campaigns/{campaign_id}/activate", {}).json()["status"] == "active"
    assert api.post(f"/campaigns/{campaign_id}/pause", {}).json()["status"] == "paused"
    assert api.post(f"/campaigns/{campaign_id}/resume", {}).json()["status"] == "active"
    assert api.post(f"/campaigns/{campaign_id}/cancel", {}).json()["status"] == "cancelled"
    refused = api.post(f"/campaigns/{campaign_id}/activate", {})
    assert refused.status_code == 409
    assert "cancelled" in refused.json()["detail"]
    audit = api.get("/audit", action="campaign.paused").json()["items"]
    assert len(audit) == 1


def test_another_shops_campaign_is_not_found(
    db: Database, hub: Hub, channel: ChannelSetup, shop
) -> None:
    mine = admin_api(db, hub.settings.public_url, shop)
    campaign_id = _put(mine, _spec(channel)).json()["id"]
    theirs = admin_api(db, hub.settings.public_url, make_shop(db))
    assert theirs.get(f"/campaigns/{campaign_id}").status_code == 404
    assert theirs.post(f"/campaigns/{campaign_id}/cancel", {}).status_code == 404
    assert _put(theirs, _spec(channel)).status_code == 404


def test_a_segment_campaign_preview_counts_samples_renders_and_checks_the_quota(
    db: Database, hub: Hub, channel: ChannelSetup, shop
) -> None:
    vip = [
        add_friend(db, channel.channel_pk, f"U{n:032x}", display_name=f"VIP{n}", tags=("vip",))
        for n in range(3)
    ]
    add_friend(db, channel.channel_pk, f"U{9:032x}", display_name="other")
    add_friend(db, channel.channel_pk, f"U{8:032x}", blocked=True, tags=("vip",))
    api = admin_api(db, hub.settings.public_url, shop)
    segment = api.put("/segments/vip", {"name": "vip", "rules": {"tag": "vip"}})
    assert segment.status_code == 200, segment.text
    live = api.get("/segments/vip/preview", channel=channel.channel_id).json()
    assert live["count"] == 4  # the blocked friend is tagged too: rules say who, guardrails when

    spec = _spec(
        channel,
        name="vip-sale",
        kind="segment",
        trigger={"segment": "vip"},
        messages=[{"type": "text", "text": "{{ display_name }}様 {{ link:https://s.example/v }}"}],
        delay={},
        caps=None,
    )
    campaign_id = _put(api, spec).json()["id"]
    shown = api.get(f"/campaigns/{campaign_id}/preview", size=2).json()
    assert shown["count"] == 4
    assert [r["friend_id"] for r in shown["sample"]] == sorted(vip)[:2]
    assert shown["messages"][0]["text"] == "VIP0様 https://s.example/v"
    assert shown["quota"]["needed"] == 4
    assert shown["quota"]["fits"] is True

    unknown = _put(api, spec | {"name": "nobody", "trigger": {"segment": "nobody"}})
    assert unknown.status_code == 404


def test_a_triggered_campaign_preview_shows_the_template_with_its_variables(
    db: Database, hub: Hub, channel: ChannelSetup, shop
) -> None:
    api = admin_api(db, hub.settings.public_url, shop)
    campaign_id = _put(api, _spec(channel, coupon_code="THANKS10")).json()["id"]
    shown = api.get(f"/campaigns/{campaign_id}/preview").json()
    assert shown["count"] is None and shown["quota"] is None
    assert shown["messages"][0]["text"] == "〈display_name〉さん、ありがとうございました"


def test_a_campaign_with_its_own_caps_follows_a_later_change_of_the_shops_quiet_hours(
    db: Database, hub: Hub, channel: ChannelSetup, shop
) -> None:
    with db.session_scope() as session:
        guardrails.set_policy(session, shop_id=channel.shop_id, quiet_hours=("22:00", "08:00"))
    api = admin_api(db, hub.settings.public_url, shop)
    campaign_id = _put(api, _spec(channel, caps={"per_week": 2})).json()["id"]

    with db.session_scope() as session:
        guardrails.set_policy(
            session, shop_id=channel.shop_id, quiet_hours=("21:00", "09:00"), per_day=1
        )
        policy = guardrails.PolicyBook(session, channel.shop_id).for_source(
            f"campaign:{campaign_id}"
        )

    assert (policy.quiet_start, policy.quiet_end) == (time(21), time(9))
    assert (policy.per_day, policy.per_week) == (1, 2)
    assert api.get(f"/campaigns/{campaign_id}").json()["spec"]["caps"] == {"per_week": 2}
