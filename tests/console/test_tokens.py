"""Owners create and revoke admin API tokens in the console; a token is shown once."""

from __future__ import annotations

import re

import httpx
from sqlalchemy import select

from core.audit import AuditLog
from core.db import Database
from core.tenancy import Shop
from staff.models import Role
from tests.console.support import Browser, add_staff
from tests.factories import make_shop

NEW_TOKEN = re.compile(r'id="new-token">([^<]+)<')


def test_an_owner_creates_a_token_shown_once_that_works_until_revoked(
    db: Database, hub_url: str, shop: Shop
) -> None:
    add_staff(db, shop, "owner@example.jp", Role.OWNER)
    browser = Browser(hub_url)
    browser.sign_in("owner@example.jp")

    created = browser.submit("/console/tokens", "/console/tokens", {"name": "crm-sync"})
    found = NEW_TOKEN.search(created.text)
    assert created.status_code == 200 and found, created.text
    token = found.group(1)
    api = httpx.get(f"{hub_url}/api/admin/v1/friends", headers={"authorization": f"Bearer {token}"})
    later = browser.get("/console/tokens")
    duplicate = browser.submit("/console/tokens", "/console/tokens", {"name": "crm-sync"})
    token_id = re.search(r"/console/tokens/(\d+)/revoke", later.text)
    assert token_id
    revoked = browser.submit("/console/tokens", f"/console/tokens/{token_id.group(1)}/revoke", {})
    refused = httpx.get(
        f"{hub_url}/api/admin/v1/friends", headers={"authorization": f"Bearer {token}"}
    )

    assert api.status_code == 200
    assert "crm-sync" in later.text and token not in later.text and token[:12] in later.text
    assert duplicate.status_code == 400 and "その名前のトークンがすでにあります" in duplicate.text
    assert revoked.status_code == 303
    assert refused.status_code == 401
    assert "無効化" in browser.get("/console/tokens").text
    with db.session_scope() as session:
        entries = session.scalars(
            select(AuditLog).where(AuditLog.subject_type == "api_token").order_by(AuditLog.id)
        ).all()
    assert [(e.action, e.actor, e.detail["name"]) for e in entries] == [
        ("api_token.created", "staff:owner@example.jp", "crm-sync"),
        ("api_token.revoked", "staff:owner@example.jp", "crm-sync"),
    ]
    assert all(token not in str(e.detail) for e in entries)


def test_a_token_of_another_shop_cannot_be_revoked_and_admins_see_no_tokens_page(
    db: Database, hub_url: str, shop: Shop
) -> None:
    other_shop = make_shop(db)
    add_staff(db, shop, "owner@example.jp", Role.OWNER)
    add_staff(db, other_shop, "other@example.jp", Role.OWNER)
    add_staff(db, shop, "admin@example.jp", Role.ADMIN)
    other = Browser(hub_url)
    other.sign_in("other@example.jp")
    other.submit("/console/tokens", "/console/tokens", {"name": "theirs"})
    their_id = re.search(r"/console/tokens/(\d+)/revoke", other.get("/console/tokens").text)
    assert their_id
    owner, admin = Browser(hub_url), Browser(hub_url)
    owner.sign_in("owner@example.jp")
    admin.sign_in("admin@example.jp")

    attempt = owner.submit("/console/tokens", f"/console/tokens/{their_id.group(1)}/revoke", {})
    page = admin.get("/console/tokens")

    assert attempt.status_code == 404
    assert "theirs" not in owner.get("/console/tokens").text
    assert page.status_code == 403 and "「オーナー」以上の権限が必要です" in page.text
    assert "/console/tokens" not in admin.get("/console/account").text
