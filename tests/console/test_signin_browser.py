"""Signing in as staff do on a phone (375 px): enrolling an authenticator app, signing in with
its code, and single sign-on through the sandbox OpenID Connect provider (also at 1280 px, then
an owner's API tokens page), in chromium."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pyotp
import pytest

from core.clock import utcnow
from core.db import Database
from core.tenancy import Shop
from sandbox.oidc.server import OidcServer
from staff.models import Role
from tests.console.support import PASSWORD, add_staff
from tests.console.test_browser import VIEWPORTS, Screen


def test_staff_enrol_an_authenticator_and_sign_in_with_its_code_on_a_phone(
    chromium: Any, db: Database, hub_url: str, shop: Shop
) -> None:
    add_staff(db, shop, "aoi@example.jp", Role.OPERATOR)
    screen = Screen(chromium, hub_url, "phone")
    page = screen.page
    try:
        screen.sign_in("aoi@example.jp")
        page.goto("/console/account")
        page.get_by_role("button", name="認証アプリを設定する").click()
        page.wait_for_url("**/console/account/totp")
        assert page.locator("img.qr").evaluate("img => img.naturalWidth") > 0
        screen.shot("totp-enrol")
        totp = pyotp.TOTP(page.locator("#totp-secret").inner_text())
        page.fill("#code", totp.now())
        page.get_by_role("button", name="オンにする").click()
        page.wait_for_selector("text=二段階認証がオンになりました")
        assert page.locator(".recovery-codes li").count() == 10
        screen.shot("totp-recovery")

        page.get_by_role("button", name="ログアウト").click()
        page.wait_for_url("**/console/login")
        page.fill("#email", "aoi@example.jp")
        page.fill("#password", PASSWORD)
        page.click("form.stack button[type=submit]")
        page.wait_for_url("**/console/login/code**")
        screen.shot("totp-code")
        page.fill("#code", "000000")
        page.click("form.stack button[type=submit]")
        page.wait_for_selector("text=コードが正しくありません")
        screen.errors.clear()  # the refused code's page answers 401, as it should
        page.fill("#code", totp.at(utcnow() + timedelta(seconds=30)))
        page.click("form.stack button[type=submit]")
        page.wait_for_url("**/console/friends")
        assert page.get_by_role("heading", name="友だち").is_visible()
        page.goto("/console/account")
        assert page.get_by_text("回復コードの残り: 10").is_visible()
        screen.shot("account-two-step-on")
        assert screen.errors == []
    finally:
        screen.close()


@pytest.mark.parametrize("viewport", list(VIEWPORTS))
def test_an_owner_signs_in_through_single_sign_on_and_creates_an_api_token(
    chromium: Any,
    db: Database,
    hub_url: str,
    shop: Shop,
    oidc_provider: OidcServer,
    viewport: str,
) -> None:
    add_staff(db, shop, "ren@example.jp", Role.OWNER)
    oidc_provider.state.users.clear()
    oidc_provider.state.add_user("ren@example.jp", name="Ren")
    oidc_provider.state.add_user("nobody@example.jp", name="Nobody")
    screen = Screen(chromium, hub_url, viewport)
    page = screen.page
    try:
        page.goto("/console/login")
        screen.shot("login-with-sso")
        page.get_by_role("link", name="Sandbox SSO でログイン").click()
        page.get_by_role("button", name="Nobody <nobody@example.jp>").click()
        page.wait_for_selector("text=有効なスタッフアカウントがありません")
        screen.shot("sso-refused")
        screen.errors.clear()  # the refusal's page answers 403, as it should

        page.get_by_role("link", name="Sandbox SSO でログイン").click()
        page.get_by_role("button", name="Ren <ren@example.jp>").click()
        page.wait_for_url("**/console/friends")
        page.get_by_role("link", name="APIトークン").click()
        page.fill("#token-name", "crm-sync")
        page.get_by_role("button", name="作成").click()
        assert page.locator("#new-token").inner_text().startswith("tsu_")
        screen.shot("api-token-created")
        page.get_by_role("button", name="crm-sync を無効にする").click()
        page.wait_for_selector("text=に無効化")
        screen.shot("api-tokens")
        assert screen.errors == []
    finally:
        screen.close()
