"""Two-step sign-in in the console: enrolling an app from the account page, signing in with a
code or a recovery code, turning it off."""

from __future__ import annotations

import re
from datetime import timedelta

import pyotp
from sqlalchemy import select

from core.audit import AuditLog
from core.clock import utcnow
from core.db import Database
from core.tenancy import Shop
from staff.models import Role
from tests.console.support import Browser, add_staff, csrf_of

SECRET = re.compile(r'id="totp-secret">([A-Z2-7]+)<')
RECOVERY = re.compile(r"<li>([a-z2-9]{5}-[a-z2-9]{5})</li>")


def enrol(browser: Browser) -> tuple[str, list[str]]:
    """Turn two-step sign-in on through the account page; the secret and the recovery codes."""
    started = browser.submit("/console/account", "/console/account/totp/start", {})
    assert started.status_code == 303 and started.headers["location"] == "/console/account/totp"
    page = browser.get("/console/account/totp")
    assert page.status_code == 200
    assert 'src="data:image/svg+xml' in page.text
    found = SECRET.search(page.text)
    assert found, page.text
    secret = found.group(1)
    code = pyotp.TOTP(secret).at(utcnow() - timedelta(seconds=30))
    confirmed = browser.post(
        "/console/account/totp/confirm", {"code": code, "csrf_token": csrf_of(page.text)}
    )
    assert confirmed.status_code == 200, confirmed.text
    return secret, RECOVERY.findall(confirmed.text)


def test_staff_enrol_an_app_and_then_sign_in_with_its_code(
    db: Database, hub_url: str, shop: Shop
) -> None:
    add_staff(db, shop, "aoi@example.jp", Role.OPERATOR)
    browser = Browser(hub_url)
    browser.sign_in("aoi@example.jp")
    secret, codes = enrol(browser)
    assert len(codes) == 10
    assert "二段階認証" in browser.get("/console/account").text
    assert "回復コードの残り: 10" in browser.get("/console/account").text

    phone = Browser(hub_url)
    password = phone.sign_in("aoi@example.jp")
    assert password.status_code == 303
    assert password.headers["location"] == "/console/login/code?next=%2Fconsole%2Ffriends"
    assert "tsunagu_console=" not in password.headers.get("set-cookie", "")
    assert phone.get("/console/friends").status_code == 303
    code_page = phone.get("/console/login/code")
    assert "認証アプリ" in code_page.text

    wrong = phone.post(
        "/console/login/code", {"code": "000000", "csrf_token": csrf_of(code_page.text)}
    )
    right = phone.post(
        "/console/login/code",
        {"code": pyotp.TOTP(secret).now(), "csrf_token": csrf_of(code_page.text)},
    )

    assert wrong.status_code == 401 and "コードが正しくありません" in wrong.text
    assert right.status_code == 303 and right.headers["location"] == "/console/friends"
    assert phone.get("/console/friends").status_code == 200
    with db.session_scope() as session:
        actions = [
            (e.action, e.detail.get("method"))
            for e in session.scalars(select(AuditLog).order_by(AuditLog.id))
        ]
    assert ("staff.totp_enabled", None) in actions
    assert actions[-1] == ("staff.signed_in", "totp")


def test_a_recovery_code_signs_in_and_a_code_turns_two_step_sign_in_off(
    db: Database, hub_url: str, shop: Shop
) -> None:
    add_staff(db, shop, "aoi@example.jp", Role.VIEWER)
    browser = Browser(hub_url)
    browser.sign_in("aoi@example.jp")
    secret, codes = enrol(browser)

    phone = Browser(hub_url)
    phone.sign_in("aoi@example.jp")
    page = phone.get("/console/login/code")
    recovered = phone.post(
        "/console/login/code", {"code": codes[0], "csrf_token": csrf_of(page.text)}
    )
    assert recovered.status_code == 303
    refused = phone.submit("/console/account", "/console/account/totp/disable", {"code": "1"})
    assert refused.status_code == 400
    turned_off = phone.submit(
        "/console/account", "/console/account/totp/disable", {"code": pyotp.TOTP(secret).now()}
    )
    assert turned_off.status_code == 303

    laptop = Browser(hub_url)
    signed_in = laptop.sign_in("aoi@example.jp")
    assert signed_in.status_code == 303 and signed_in.headers["location"] == "/console/friends"


def test_a_code_without_a_waiting_sign_in_is_sent_back_to_the_password(
    db: Database, hub_url: str, shop: Shop
) -> None:
    browser = Browser(hub_url)
    assert browser.get("/console/login/code").headers["location"] == "/console/login"
    page = browser.get("/console/login")

    posted = browser.post(
        "/console/login/code", {"code": "123456", "csrf_token": csrf_of(page.text)}
    )

    assert posted.status_code == 410
    assert "パスワードをもう一度" in posted.text
