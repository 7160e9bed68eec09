"""Admin API tokens: required, verified, revocable, and scoped to one shop's rows."""

from __future__ import annotations

import httpx
import pytest

from core.db import Database
from core.inbox import IncomingEvent, store_events
from core.tenancy import Shop, revoke_token
from tests.api.admin_support import (
    ADMIN_PREFIX,
    AdminApi,
    add_friend,
    add_link,
    add_member,
    admin_api,
)
from tests.factories import ChannelSetup, make_channel, make_shop

READ_PATHS = ["/friends", "/members", "/links", "/events", "/audit"]


@pytest.mark.parametrize("path", READ_PATHS)
def test_a_request_without_a_token_is_refused_with_401(db: Database, hub_url: str, path: str):
    response = httpx.get(hub_url + ADMIN_PREFIX + path, timeout=10)

    assert response.status_code == 401
    assert response.json()["error"] == "Unauthorized"
    assert "Authorization: Bearer" in response.json()["detail"]


def test_an_unknown_token_is_refused_with_401(db: Database, hub_url: str) -> None:
    response = httpx.get(
        hub_url + ADMIN_PREFIX + "/members",
        headers={"Authorization": "Bearer tsu_not-a-real-token"},
        timeout=10,
    )

    assert response.status_code == 401
    assert response.json() == {
        "error": "Unauthorized",
        "detail": "invalid or revoked API token: create one with `tsunagu token create`",
    }


def test_a_revoked_token_stops_working_at_once(db: Database, hub_url: str, shop: Shop) -> None:
    admin = admin_api(db, hub_url, shop, name="crm-sync")
    assert admin.get("/members").status_code == 200

    with db.session_scope() as session:
        revoke_token(session, shop=session.get_one(Shop, shop.id), name="crm-sync")

    assert admin.get("/members").status_code == 401


def _seed_shop(db: Database, line_sandbox, hub_url: str, shop: Shop) -> dict[str, int]:
    """A friend, a member (audited), a link and an event belonging to ``shop``, by list path."""
    channel: ChannelSetup = make_channel(db, line_sandbox, hub_url, shop)
    friend_id = add_friend(db, channel.channel_pk, "U" + "1" * 32, tags=("vip",))
    member_id = add_member(db, shop.id, "A-001", email="owner@example.jp", phone="090-1111-2222")
    link_id = add_link(db, shop.id, friend_id, member_id)
    with db.session_scope() as session:
        [event_id] = store_events(
            session,
            source="test",
            shop_id=shop.id,
            channel_id=channel.channel_pk,
            events=[IncomingEvent(dedup_key=f"seed-{shop.id}", event_type="follow", payload={})],
        )
    return {"/friends": friend_id, "/members": member_id, "/links": link_id, "/events": event_id}


def test_one_shops_token_never_sees_another_shops_rows(
    db: Database, line_sandbox, hub_url: str
) -> None:
    ginza, shibuya = make_shop(db), make_shop(db)
    ginza_rows = _seed_shop(db, line_sandbox, hub_url, ginza)
    shibuya_rows = _seed_shop(db, line_sandbox, hub_url, shibuya)
    admin: AdminApi = admin_api(db, hub_url, shibuya)

    for path, own_id in shibuya_rows.items():
        assert [item["id"] for item in admin.get(path).json()["items"]] == [own_id], path
        other_id = ginza_rows[path]
        if path != "/links":
            assert admin.get(f"{path}/{other_id}").status_code == 404, path
    audit = admin.get("/audit").json()["items"]
    assert {(a["subject_type"], a["subject_id"]) for a in audit} == {
        ("member", str(shibuya_rows["/members"]))
    }
    # The same email and number exist in both shops: look-ups still find only the token's own.
    by_email = admin.get("/members", email="owner@example.jp").json()["items"]
    assert [m["id"] for m in by_email] == [shibuya_rows["/members"]]
    assert admin.get("/links", member_id=ginza_rows["/members"]).json()["items"] == []
    assert admin.get("/friends", tag="vip").json()["items"][0]["id"] == shibuya_rows["/friends"]
    hijack = admin.patch(f"/members/{ginza_rows['/members']}", {"name": "hijack"})
    assert hijack.status_code == 404
    assert hijack.json()["error"] == "MemberNotFound"
