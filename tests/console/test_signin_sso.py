"""Single sign-on to the console through the sandbox OpenID Connect provider, over real HTTP:
who it signs in, and every way it refuses, explained on the sign-in page."""

from __future__ import annotations

import re
import time
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from sqlalchemy import select

from core.audit import AuditLog
from core.db import Database
from core.tenancy import Shop
from sandbox.oidc.server import OidcServer
from staff import service as staff_service
from staff.models import Role
from tests.console.support import Browser, add_staff

HIDDEN = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)">')


def choose(provider_url: str, authorize_url: str, sub: str) -> str:
    """Act as the person at the provider's page: press the button of ``sub`` (or Cancel with
    an empty one); returns where the provider sends the browser back."""
    with httpx.Client(timeout=10) as person:
        page = person.get(authorize_url)
        assert page.status_code == 200, page.text
        fields = dict(HIDDEN.findall(page.text.split("</form>")[0]))
        back = person.post(f"{provider_url}/authorize", data={**fields, "sub": sub})
    assert back.status_code == 303
    return back.headers["location"]


def sign_on(
    browser: Browser, provider: OidcServer, email: str, *, next: str = "/console/friends"
) -> httpx.Response:
    """Start single sign-on in ``browser``, choose ``email`` at the provider, come back."""
    started = browser.get("/console/login/sso", params={"next": next})
    assert started.status_code == 303
    user = next_user(provider, email)
    callback = choose(provider.url, started.headers["location"], user)
    return browser.get(callback)


def next_user(provider: OidcServer, email: str) -> str:
    found = [u for u in provider.state.users if u.email == email]
    return found[0].sub if found else ""


@pytest.fixture
def provider(oidc_provider: OidcServer) -> OidcServer:
    oidc_provider.state.users.clear()
    oidc_provider.state.next_claims.clear()
    oidc_provider.state.next_signed_by_stranger = False
    return oidc_provider


def test_a_verified_email_of_a_staff_account_signs_in(
    db: Database, hub_url: str, shop: Shop, provider: OidcServer
) -> None:
    add_staff(db, shop, "aoi@example.jp", Role.OPERATOR)
    provider.state.add_user("Aoi@Example.jp", name="Aoi")
    browser = Browser(hub_url)
    login = browser.get("/console/login")
    assert "Sandbox SSO でログイン" in login.text

    started = browser.get("/console/login/sso", params={"next": "/console/account"})
    query = parse_qs(urlsplit(started.headers["location"]).query)
    assert started.headers["location"].startswith(f"{provider.url}/authorize?")
    assert query["code_challenge_method"] == ["S256"] and query["response_type"] == ["code"]
    assert {"state", "nonce", "code_challenge"} <= set(query)
    assert "code_verifier" not in query
    came_back = browser.get(
        choose(provider.url, started.headers["location"], provider.state.users[0].sub)
    )

    assert came_back.status_code == 303 and came_back.headers["location"] == "/console/account"
    account = browser.get("/console/account")
    assert account.status_code == 200 and "aoi@example.jp" in account.text
    with db.session_scope() as session:
        entry = session.scalars(select(AuditLog)).one()
        assert (entry.action, entry.detail["method"]) == ("staff.signed_in", "sso")


@pytest.mark.parametrize(
    ("email", "verified", "reason"),
    [
        ("aoi@example.jp", False, "メールアドレスを確認していない"),
        ("stranger@example.jp", True, "有効なスタッフアカウントがありません"),
        ("disabled@example.jp", True, "有効なスタッフアカウントがありません"),
    ],
)
def test_only_verified_emails_of_enabled_accounts_sign_in_and_no_account_is_created(
    db: Database,
    hub_url: str,
    shop: Shop,
    provider: OidcServer,
    email: str,
    verified: bool,
    reason: str,
) -> None:
    add_staff(db, shop, "aoi@example.jp", Role.OPERATOR)
    add_staff(db, shop, "disabled@example.jp", Role.OPERATOR)
    with db.session_scope() as session:
        staff_service.disable_staff(session, email="disabled@example.jp")
    provider.state.add_user(email, email_verified=verified)
    browser = Browser(hub_url)

    refused = sign_on(browser, provider, email)

    assert refused.status_code == 403 and reason in refused.text
    assert browser.get("/console/friends").status_code == 303
    with db.session_scope() as session:
        assert [u.email for u, _ in staff_service.list_staff(session)] == [
            "aoi@example.jp",
            "disabled@example.jp",
        ]


@pytest.mark.parametrize(
    "tampering",
    [
        {"aud": "another-client"},
        {"iss": "https://issuer.example"},
        {"exp": int(time.time()) - 3600},
        {"nonce": "a-nonce-of-another-sign-in"},
        "stranger",
    ],
)
def test_an_id_token_that_fails_any_check_signs_nobody_in(
    db: Database, hub_url: str, shop: Shop, provider: OidcServer, tampering: object
) -> None:
    add_staff(db, shop, "aoi@example.jp", Role.OPERATOR)
    provider.state.add_user("aoi@example.jp")
    if tampering == "stranger":
        provider.state.next_signed_by_stranger = True
    else:
        assert isinstance(tampering, dict)
        provider.state.next_claims.update(tampering)
    browser = Browser(hub_url)

    refused = sign_on(browser, provider, "aoi@example.jp")

    assert refused.status_code == 403
    assert "検証できなかった" in refused.text
    assert "tsunagu_console=" not in refused.headers.get("set-cookie", "")


def test_an_answer_for_a_sign_on_begun_in_another_browser_is_refused(
    db: Database, hub_url: str, shop: Shop, provider: OidcServer
) -> None:
    add_staff(db, shop, "aoi@example.jp", Role.OPERATOR)
    provider.state.add_user("aoi@example.jp")
    attacker, victim = Browser(hub_url), Browser(hub_url)
    started = attacker.get("/console/login/sso")
    callback = choose(provider.url, started.headers["location"], provider.state.users[0].sub)

    planted = victim.get(callback)
    tampered = attacker.get(callback.replace("state=", "state=x"))

    assert planted.status_code == 403 and "このブラウザで始まっていない" in planted.text
    assert tampered.status_code == 403 and "このブラウザで始まっていない" in tampered.text
    assert victim.get("/console/friends").status_code == 303


def test_cancelling_at_the_provider_is_explained(
    db: Database, hub_url: str, provider: OidcServer
) -> None:
    browser = Browser(hub_url)

    cancelled = sign_on(browser, provider, "nobody@example.jp")

    assert cancelled.status_code == 403 and "キャンセル" in cancelled.text
