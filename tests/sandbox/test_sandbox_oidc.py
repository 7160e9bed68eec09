"""The sandbox OpenID Connect provider checks what a real one checks: registered redirect
addresses, PKCE, single-use codes, client credentials."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import KeySet

from sandbox.oidc.server import OidcServer
from sandbox.oidc.state import s256

REDIRECT = "http://127.0.0.1:9/callback"


@pytest.fixture
def provider() -> Iterator[OidcServer]:
    with OidcServer() as server:
        server.state.add_client("client", "secret", REDIRECT)
        server.state.add_user("aoi@example.jp", sub="aoi")
        yield server


def authorize(provider: OidcServer, verifier: str, **overrides: str) -> httpx.Response:
    fields = {
        "client_id": "client",
        "redirect_uri": REDIRECT,
        "state": "s",
        "nonce": "n",
        "code_challenge": s256(verifier),
        "sub": "aoi",
        **overrides,
    }
    return httpx.post(f"{provider.url}/authorize", data=fields)


def redeem(provider: OidcServer, code: str, verifier: str) -> httpx.Response:
    return httpx.post(
        f"{provider.url}/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": REDIRECT,
            "code_verifier": verifier,
        },
        auth=("client", "secret"),
    )


def test_a_code_redeemed_with_its_verifier_gives_an_id_token_signed_by_the_published_key(
    provider: OidcServer,
) -> None:
    document = httpx.get(f"{provider.url}/.well-known/openid-configuration").json()
    back = authorize(provider, "v" * 50)
    query = parse_qs(urlsplit(back.headers["location"]).query)

    token = redeem(provider, query["code"][0], "v" * 50)
    keys = KeySet.import_key_set(httpx.get(document["jwks_uri"]).json())
    claims = jwt.decode(token.json()["id_token"], keys, algorithms=["RS256"]).claims

    assert document["issuer"] == provider.url and query["state"] == ["s"]
    assert (claims["iss"], claims["aud"], claims["nonce"]) == (provider.url, "client", "n")
    assert (claims["email"], claims["email_verified"]) == ("aoi@example.jp", True)


def test_a_wrong_verifier_a_replayed_code_and_an_unregistered_address_are_refused(
    provider: OidcServer,
) -> None:
    first = parse_qs(urlsplit(authorize(provider, "v" * 50).headers["location"]).query)
    wrong = redeem(provider, first["code"][0], "w" * 50)
    second = parse_qs(urlsplit(authorize(provider, "v" * 50).headers["location"]).query)
    used = redeem(provider, second["code"][0], "v" * 50)
    replayed = redeem(provider, second["code"][0], "v" * 50)
    elsewhere = authorize(provider, "v" * 50, redirect_uri="https://evil.example/cb")
    page = httpx.get(
        f"{provider.url}/authorize",
        params={
            "client_id": "client",
            "redirect_uri": REDIRECT,
            "response_type": "code",
            "scope": "openid",
            "state": "s",
        },
    )

    assert wrong.status_code == 400 and wrong.json() == {"error": "invalid_grant"}
    assert used.status_code == 200
    assert replayed.status_code == 400
    assert elsewhere.status_code == 400
    assert page.status_code == 303 and "error=invalid_request" in page.headers["location"]
