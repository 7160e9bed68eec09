"""Renaming a tag renames it wherever the shop named it: a segment, a sequence, an auto-reply
rule or a follow route naming the old name would otherwise match nobody, or quietly create the
old tag again the next time it runs."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from core.audit import AuditLog
from core.db import Database
from core.tenancy import Shop
from tests.api.admin_support import add_friend, admin_api
from tests.autoreply.support import text
from tests.factories import ChannelSetup
from tests.growth.support import give_liff_app, make_route


def _sequence(channel: ChannelSetup) -> dict[str, Any]:
    return {
        "name": "vip-welcome",
        "channel": channel.channel_id,
        "enroll_on": {"event": "tag", "tag": "vip"},
        "exit_on": ["blocked", {"tag_added": "vip"}, {"tag_added": "member"}],
        "steps": [{"messages": [{"type": "text", "text": "VIP のご案内"}]}],
    }


def test_a_renamed_tag_is_renamed_in_segments_sequences_rules_and_routes(
    db: Database, hub_url: str, shop: Shop, channel: ChannelSetup
) -> None:
    give_liff_app(db, channel)
    api = admin_api(db, hub_url, shop, name="crm")
    add_friend(db, channel.channel_pk, "U" + "1" * 32, tags=("vip",))
    add_friend(db, channel.channel_pk, "U" + "2" * 32, tags=("vip", "gold"))
    rules = {"any": [{"tag": "vip"}, {"not": {"tag_absent": "vip"}}]}
    assert api.put("/segments/vip", {"name": "vip", "rules": rules}).status_code == 200
    assert api.put("/sequences/vip-welcome", _sequence(channel)).status_code == 200
    rule = {
        "name": "vip-desk",
        "channel": channel.channel_id,
        "match": "contains",
        "pattern": "予約",
        "conditions": {"tags": ["vip", "gold"], "without_tags": ["blocked-vip"]},
        "actions": {"reply": text("VIP 窓口です"), "add_tags": ["vip"]},
    }
    assert api.put("/auto-replies/rules/vip-desk", rule).status_code == 200
    route = make_route(api, "VIP poster", actions=[{"kind": "tag", "target": "vip"}])
    tag_rule = {"name": "big buyers", "trigger": {"event": "total_spend", "amount": 50000}}
    tag_rule = api.post("/tag-rules", tag_rule | {"add": ["vip"], "remove": ["gold"]}).json()
    menu = {"name": "vip menu", "url": "https://salon.example/vip", "tag": "vip"}
    link = api.post("/tracked-links", menu).json()
    vip = next(t for t in api.get("/tags").json()["items"] if t["name"] == "vip")
    before = api.get("/segments/vip/preview", channel=channel.channel_id).json()["count"]

    renamed = api.patch(f"/tags/{vip['id']}", {"name": "gold"})
    assert renamed.status_code == 409  # the shop already has a "gold": nothing is renamed
    renamed = api.patch(f"/tags/{vip['id']}", {"name": "プラチナ"})

    assert renamed.status_code == 200, renamed.text
    segment = next(s for s in api.get("/segments").json()["items"] if s["name"] == "vip")
    assert segment["rules"] == {"any": [{"tag": "プラチナ"}, {"not": {"tag_absent": "プラチナ"}}]}
    assert api.get("/segments/vip/preview", channel=channel.channel_id).json()["count"] == before
    sequence = api.get("/sequences/vip-welcome").json()["spec"]
    assert sequence["enroll_on"] == {"event": "tag", "tag": "プラチナ"}
    assert sequence["exit_on"] == ["blocked", {"tag_added": "プラチナ"}, {"tag_added": "member"}]
    saved_rule = api.get("/auto-replies/rules/vip-desk").json()
    assert saved_rule["conditions"]["tags"] == ["プラチナ", "gold"]
    assert saved_rule["conditions"]["without_tags"] == ["blocked-vip"]
    assert saved_rule["actions"]["add_tags"] == ["プラチナ"]
    saved_route = api.get(f"/routes/{route['id']}").json()
    assert [(a["kind"], a["target"]) for a in saved_route["actions"]] == [("tag", "プラチナ")]
    saved_tag_rule = api.get(f"/tag-rules/{tag_rule['id']}").json()
    assert (saved_tag_rule["add"], saved_tag_rule["remove"]) == (["プラチナ"], ["gold"])
    assert api.get(f"/tracked-links/{link['id']}").json()["tag"] == "プラチナ"
    assert sorted(t["name"] for t in api.get("/tags").json()["items"]) == ["gold", "プラチナ"]
    with db.session_scope() as session:
        entry = session.scalars(
            select(AuditLog).where(AuditLog.action == "tag.updated").order_by(AuditLog.id.desc())
        ).first()
        assert entry is not None
        assert entry.detail["renamed_in"] == {
            "segments": 1,
            "sequences": 1,
            "auto-reply rules": 1,
            "follow routes": 1,
            "tag rules": 1,
            "tracked links": 1,
        }
