"""Signing in to the console: cookies, throttling, one-time password links, signing out."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from core.audit import AuditLog
from core.db import Database
from core.tenancy import Shop
from staff import service as staff_service
from staff.models import Role, StaffSession, StaffUser
from tests.console.support import PASSWORD, Browser, add_staff, csrf_of


def test_the_site_root_leads_to_the_console_and_the_console_to_sign_in(
    db: Database, hub_url: str
) -> None:
    browser = Browser(hub_url)

    root = browser.get("/")
    friends = browser.get("/console/friends?q=x")

    assert root.status_code == 303 and root.headers["location"] == "/console/friends"
    assert friends.status_code == 303
    assert friends.headers["location"] == "/console/login?next=%2Fconsole%2Ffriends%3Fq%3Dx"


def test_signing_in_sets_a_strict_session_cookie_and_opens_the_console_in_japanese(
    db: Database, hub_url: str, shop: Shop
) -> None:
    add_staff(db, shop, "aoi@example.jp", Role.OPERATOR)
    browser = Browser(hub_url)

    signed_in = browser.sign_in("Aoi@Example.jp")
    friends = browser.get("/console/friends")

    assert signed_in.status_code == 303 and signed_in.headers["location"] == "/console/friends"
    cookie = next(
        c for c in signed_in.headers.get_list("set-cookie") if c.startswith("tsunagu_console=")
    )
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/console" in cookie
    assert "Secure" not in cookie  # public_url is http:// in the tests
    assert friends.status_code == 200
    assert '<html lang="ja">' in friends.text and "友だち" in friends.text
    with db.session_scope() as session:
        entry = session.scalars(select(AuditLog)).one()
        assert (entry.action, entry.actor) == ("staff.signed_in", "staff:aoi@example.jp")
        assert entry.detail["ip"] == "127.0.0.1"


def test_a_wrong_password_is_refused_and_repeated_failures_lock_the_account(
    db: Database, hub_url: str, shop: Shop
) -> None:
    add_staff(db, shop, "aoi@example.jp", Role.OPERATOR)
    browser = Browser(hub_url)

    wrong = [browser.sign_in("aoi@example.jp", "wrong password") for _ in range(5)]
    right = browser.sign_in("aoi@example.jp")

    assert [r.status_code for r in wrong] == [401, 401, 401, 401, 429]
    assert "メールアドレスまたはパスワードが違います。" in wrong[0].text
    assert right.status_code == 429 and "ロック" in right.text


def test_a_next_address_outside_the_console_is_not_followed(
    db: Database, hub_url: str, shop: Shop
) -> None:
    add_staff(db, shop, "aoi@example.jp", Role.OPERATOR)
    browser = Browser(hub_url)
    page = browser.get("/console/login?next=https://evil.example/")

    signed_in = browser.post(
        "/console/login",
        {
            "email": "aoi@example.jp",
            "password": PASSWORD,
            "csrf_token": csrf_of(page.text),
            "next": "https://evil.example/",
        },
    )

    assert signed_in.headers["location"] == "/console/friends"


def test_a_password_link_sets_the_password_once(db: Database, hub_url: str, shop: Shop) -> None:
    with db.session_scope() as session:
        user = staff_service.add_staff(
            session, email="new@example.jp", shop=session.get_one(Shop, shop.id), role=Role.VIEWER
        )
        token = staff_service.issue_password_link(session, user=user, ttl=timedelta(hours=1))
    browser = Browser(hub_url)
    page = browser.get(f"/console/password/{token}")

    mismatch = browser.post(
        f"/console/password/{token}",
        {"password": "a long password", "confirm": "another one", "csrf_token": csrf_of(page.text)},
    )
    done = browser.post(
        f"/console/password/{token}",
        {
            "password": "a long password",
            "confirm": "a long password",
            "csrf_token": csrf_of(page.text),
        },
    )
    again = browser.get(f"/console/password/{token}")

    assert page.status_code == 200 and "new@example.jp" in page.text
    assert mismatch.status_code == 400 and "一致しません" in mismatch.text
    assert done.status_code == 303 and done.headers["location"] == "/console/login?done=1"
    assert again.status_code == 410 and "このリンクは使えません" in again.text
    assert browser.sign_in("new@example.jp", "a long password").status_code == 303


def test_sign_out_ends_the_session(db: Database, hub_url: str, shop: Shop) -> None:
    add_staff(db, shop, "aoi@example.jp", Role.OPERATOR)
    browser = Browser(hub_url)
    browser.sign_in("aoi@example.jp")
    token = browser.client.cookies["tsunagu_console"]

    signed_out = browser.submit("/console/friends", "/console/logout", {})

    assert signed_out.status_code == 303 and signed_out.headers["location"] == "/console/login"
    stale = Browser(hub_url)
    stale.client.cookies.set("tsunagu_console", token, path="/console")
    assert stale.get("/console/friends").status_code == 303


def test_sign_out_everywhere_ends_the_other_browsers_sessions(
    db: Database, hub_url: str, shop: Shop
) -> None:
    add_staff(db, shop, "aoi@example.jp", Role.VIEWER)
    phone, desktop = Browser(hub_url), Browser(hub_url)
    phone.sign_in("aoi@example.jp")
    desktop.sign_in("aoi@example.jp")

    account = phone.get("/console/account")
    phone.submit("/console/account", "/console/account/sign-out-everywhere", {})

    assert account.text.count("127.0.0.1") == 2
    assert desktop.get("/console/friends").status_code == 303
    assert phone.get("/console/friends").status_code == 303
    with db.session_scope() as session:
        entry = session.scalars(
            select(AuditLog).where(AuditLog.action == "staff.signed_out_everywhere")
        ).one()
        assert entry.actor == "staff:aoi@example.jp" and entry.detail["sessions"] == 2


def test_the_language_chosen_is_kept_for_the_staff_member(
    db: Database, hub_url: str, shop: Shop
) -> None:
    add_staff(db, shop, "aoi@example.jp", Role.VIEWER)
    browser = Browser(hub_url)
    browser.sign_in("aoi@example.jp")

    browser.submit("/console/account", "/console/account/language", {"locale": "en"})
    later = Browser(hub_url)
    later.sign_in("aoi@example.jp")
    page = later.get("/console/friends")

    assert '<html lang="en">' in page.text and ">Friends<" in page.text
    with db.session_scope() as session:
        assert session.scalars(select(StaffUser.locale)).one() == "en"


def test_one_session_is_signed_out_from_the_account_page_and_only_ones_own(
    db: Database, hub_url: str, shop: Shop
) -> None:
    add_staff(db, shop, "aoi@example.jp", Role.VIEWER)
    add_staff(db, shop, "ken@example.jp", Role.VIEWER)
    phone, desktop, ken = Browser(hub_url), Browser(hub_url), Browser(hub_url)
    phone.sign_in("aoi@example.jp")
    desktop.sign_in("aoi@example.jp")
    ken.sign_in("ken@example.jp")
    with db.session_scope() as session:
        sessions = session.execute(
            select(StaffSession.id, StaffUser.email).join(StaffUser).order_by(StaffSession.id)
        ).all()
    phone_session, _desktop_session, kens_session = (session_id for session_id, _ in sessions)

    kens = desktop.submit(
        "/console/account", f"/console/account/sessions/{kens_session}/revoke", {}
    )
    revoked = desktop.submit(
        "/console/account", f"/console/account/sessions/{phone_session}/revoke", {}
    )

    assert kens.status_code == 404 and ken.get("/console/friends").status_code == 200
    assert revoked.status_code == 303 and revoked.headers["location"] == "/console/account"
    assert phone.get("/console/friends").status_code == 303
    assert desktop.get("/console/friends").status_code == 200
