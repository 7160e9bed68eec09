"""Segments and step sequences through the admin API: declared by name, refused when invalid."""

from __future__ import annotations

from typing import Any

from core.db import Database
from tests.api.admin_support import add_friend, admin_api
from tests.factories import ChannelSetup, make_shop
from tsunagu.hub import Hub


def _sequence(channel: ChannelSetup, **overrides: Any) -> dict[str, Any]:
    spec = {
        "name": "welcome",
        "channel": channel.channel_id,
        "enroll_on": {"event": "follow"},
        "exit_on": ["blocked", {"tag_added": "member"}],
        "steps": [
            {"messages": [{"type": "text", "text": "{{ display_name }}さん、ようこそ"}]},
            {"delay": {"days": 1, "at": "10:00"}, "messages": [{"type": "text", "text": "2日目"}]},
        ],
    }
    return spec | overrides


def test_a_sequence_is_declared_read_back_and_updated(
    db: Database, hub: Hub, channel: ChannelSetup, shop
) -> None:
    api = admin_api(db, hub.settings.public_url, shop)
    created = api.put("/sequences/welcome", _sequence(channel))
    assert created.status_code == 200, created.text
    body = created.json()
    assert body["spec"]["steps"][1]["delay"] == {"days": 1, "at": "10:00"}
    assert body["enrollments"] == {} and body["deliveries"] == {}
    assert body["source"] == f"sequence:{body['id']}"

    paused = api.put("/sequences/welcome", _sequence(channel, active=False))
    assert paused.json()["spec"]["active"] is False
    assert [s["name"] for s in api.get("/sequences").json()["items"]] == ["welcome"]
    assert api.get("/sequences/welcome").json()["id"] == body["id"]


def test_invalid_sequences_and_segments_are_refused_with_the_reason(
    db: Database, hub: Hub, channel: ChannelSetup, shop
) -> None:
    api = admin_api(db, hub.settings.public_url, shop)
    no_steps = api.put("/sequences/welcome", _sequence(channel, steps=[]))
    assert no_steps.status_code == 422
    bad_var = _sequence(channel, steps=[{"messages": [{"type": "text", "text": "{{ nope }}"}]}])
    refused = api.put("/sequences/welcome", bad_var)
    assert refused.status_code == 422
    assert "nope" in refused.json()["detail"]
    bad_rule = api.put("/segments/x", {"name": "x", "rules": {"tagg": "vip"}})
    assert bad_rule.status_code == 422
    assert api.get("/sequences").json()["items"] == []
    assert api.get("/segments").json()["items"] == []


def test_segments_are_counted_per_channel_and_scoped_to_the_shop(
    db: Database, hub: Hub, channel: ChannelSetup, shop
) -> None:
    add_friend(db, channel.channel_pk, "U" + "1" * 32, tags=("vip",))
    api = admin_api(db, hub.settings.public_url, shop)
    assert api.put("/segments/vip", {"name": "vip", "rules": {"tag": "vip"}}).status_code == 200
    preview = api.get("/segments/vip/preview", channel=channel.channel_id).json()
    assert preview["count"] == 1
    theirs = admin_api(db, hub.settings.public_url, make_shop(db))
    assert theirs.get("/segments/vip/preview", channel=channel.channel_id).status_code == 404
    assert theirs.get("/segments").json()["items"] == []
