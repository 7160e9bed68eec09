"""The admin API's custom fields: definitions per shop, a friend's values checked by type."""

from __future__ import annotations

import httpx

from core.db import Database
from core.tenancy import Shop
from tests.api.admin_support import add_friend, admin_api
from tests.factories import ChannelSetup, make_shop


def test_a_script_defines_a_field_sets_a_friends_value_and_reads_it_on_the_chart(
    db: Database, hub_url: str, shop: Shop, channel: ChannelSetup
) -> None:
    api = admin_api(db, hub_url, shop, name="crm")
    friend_id = add_friend(db, channel.channel_pk, "U" + "1" * 32)
    spec = {"key": "rank", "label": "ランク", "type": "choice", "choices": ["一般", "VIP"]}

    defined = api.put("/fields/rank", spec)
    refused = api.put(f"/friends/{friend_id}/fields/rank", {"value": "プラチナ"})
    set_ = api.put(f"/friends/{friend_id}/fields/rank", {"value": "VIP"})
    listed = api.get(f"/friends/{friend_id}/fields")
    chart = api.get(f"/friends/{friend_id}/chart")
    cleared = httpx.delete(
        f"{api.base_url}/friends/{friend_id}/fields/rank", headers=api.headers, timeout=10
    )

    assert defined.status_code == 200 and defined.json()["position"] == 0
    assert refused.status_code == 400 and refused.json()["error"] == "InvalidFieldValue"
    assert "一般, VIP" in refused.json()["detail"]
    assert set_.json() == {
        "key": "rank",
        "label": "ランク",
        "type": "choice",
        "choices": ["一般", "VIP"],
        "value": "VIP",
        "shown": "VIP",
    }
    assert [f["value"] for f in listed.json()] == ["VIP"]
    assert cleared.json()["value"] is None
    assert [(f["key"], f["shown"]) for f in chart.json()["fields"]] == [("rank", "VIP")]
    change = chart.json()["timeline"]["items"][0]
    assert (change["action"], change["actor"], change["detail"]["value"]) == (
        "friend.field_set",
        "token:crm",
        "VIP",
    )


def test_another_shops_token_sees_no_field_and_cannot_set_one(
    db: Database, hub_url: str, shop: Shop, channel: ChannelSetup
) -> None:
    friend_id = add_friend(db, channel.channel_pk, "U" + "1" * 32)
    api = admin_api(db, hub_url, shop)
    api.put("/fields/memo", {"key": "memo", "label": "メモ", "type": "text"})
    other = admin_api(db, hub_url, make_shop(db))

    assert other.get("/fields").json() == {"items": []}
    assert other.put(f"/friends/{friend_id}/fields/memo", {"value": "x"}).status_code == 404
    mismatched = other.put("/fields/memo", {"key": "other", "label": "x", "type": "text"})
    assert mismatched.status_code == 400
