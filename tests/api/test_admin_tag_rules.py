"""Tag rules and standalone tracked links through the admin API: declared, refused when
malformed, read back with their hits and clicks; another shop's are not found."""

from __future__ import annotations

import httpx
import pytest

from core.db import Database
from core.tenancy import Shop
from sandbox.line.server import SandboxServer
from tests.api.admin_support import AdminApi, admin_api
from tests.factories import ChannelSetup, make_shop
from tests.idlink.support import befriend, tags_of

FIRST_BUYERS = {
    "name": "first buyers",
    "trigger": {"event": "purchase", "purchase_number": 1},
    "add": ["first-buyer"],
    "remove": ["prospect"],
}


@pytest.fixture
def api(db: Database, hub_url: str, shop: Shop) -> AdminApi:
    return admin_api(db, hub_url, shop)


def test_a_rule_is_created_listed_changed_and_deleted(api: AdminApi) -> None:
    created = api.post("/tag-rules", FIRST_BUYERS)
    assert created.status_code == 201, created.text
    rule = created.json()
    assert (rule["trigger"], rule["add"], rule["hits"]) == (
        {"event": "purchase", "purchase_number": 1},
        ["first-buyer"],
        0,
    )
    assert api.post("/tag-rules", FIRST_BUYERS).status_code == 409

    changed = api.put(f"/tag-rules/{rule['id']}", {**FIRST_BUYERS, "active": False})
    assert changed.status_code == 200, changed.text
    assert [r["active"] for r in api.get("/tag-rules").json()["items"]] == [False]

    deleted = httpx.delete(
        f"{api.base_url}/tag-rules/{rule['id']}", headers=api.headers, timeout=10
    )
    assert deleted.status_code == 204
    assert api.get(f"/tag-rules/{rule['id']}").status_code == 404


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ({**FIRST_BUYERS, "add": [], "remove": []}, "at least one tag"),
        ({**FIRST_BUYERS, "remove": ["first-buyer"]}, "both add and remove"),
        ({**FIRST_BUYERS, "trigger": {"event": "birthday"}}, "event"),
        ({**FIRST_BUYERS, "trigger": {"event": "no_purchase", "days": 0}}, "days"),
        (
            {
                **FIRST_BUYERS,
                "trigger": {"event": "form_answer", "form": "肌\n診断", "question": "q"},
            },
            "form",
        ),
    ],
)
def test_a_malformed_rule_is_refused_with_what_is_wrong(
    api: AdminApi, body: dict[str, object], says: str
) -> None:
    refused = api.post("/tag-rules", body)

    assert refused.status_code == 422
    assert says in refused.text
    assert api.get("/tag-rules").json()["items"] == []


def test_a_tracked_link_counts_a_friends_clicks_and_its_rule_hits_are_listed(
    db: Database, line_sandbox: SandboxServer, channel: ChannelSetup, api: AdminApi
) -> None:
    created = api.post(
        "/tracked-links", {"name": "menu", "url": "https://salon.example/menu", "tag": "menu"}
    )
    assert created.status_code == 201, created.text
    link = created.json()
    assert link["placeholder"] == "{{ tracked:menu }}"
    rule = api.post(
        "/tag-rules",
        {"name": "readers", "trigger": {"event": "click", "link": "menu"}, "add": ["reader"]},
    ).json()
    hanako = befriend(db, line_sandbox, channel, "Hanako")
    url = api.post(f"/tracked-links/{link['id']}/friends/{hanako.friend_id}", {}).json()["url"]

    for _ in range(3):
        assert httpx.get(url, follow_redirects=False, timeout=10).status_code == 302

    assert {"menu", "reader"} <= tags_of(db, hanako.friend_id)
    counted = api.get(f"/tracked-links/{link['id']}").json()
    assert (counted["friends_sent"], counted["friends_clicked"], counted["clicks"]) == (1, 1, 3)
    clickers = api.get(f"/tracked-links/{link['id']}/friends").json()["items"]
    assert [(c["friend_id"], c["clicks"], c["url"]) for c in clickers] == [
        (hanako.friend_id, 3, url)
    ]
    hits = api.get(f"/tag-rules/{rule['id']}/hits").json()
    assert [(h["friend_id"], h["display_name"]) for h in hits["items"]] == [
        (hanako.friend_id, "Hanako")
    ]
    assert api.get("/tag-rules").json()["items"][0]["hits"] == 1


def test_another_shops_rules_and_links_are_not_found(
    db: Database, hub_url: str, api: AdminApi
) -> None:
    rule = api.post("/tag-rules", FIRST_BUYERS).json()
    link = api.post("/tracked-links", {"name": "menu", "url": "https://salon.example/"}).json()
    other = admin_api(db, hub_url, make_shop(db))

    assert other.get(f"/tag-rules/{rule['id']}").status_code == 404
    assert other.get(f"/tracked-links/{link['id']}").status_code == 404
    assert other.put(f"/tag-rules/{rule['id']}", FIRST_BUYERS).status_code == 404
    assert other.get("/tag-rules").json()["items"] == []
