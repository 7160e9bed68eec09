"""The single sign-on client against the sandbox OpenID Connect provider over real HTTP: what it
refuses of the provider itself, and keys the provider rotates."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from core.serving import free_port
from sandbox.oidc.server import OidcServer
from sandbox.oidc.state import new_rsa_key, s256
from staff.oidc import REFETCH_SECONDS, OidcConfig, OidcProvider, SsoRefused

REDIRECT = "http://127.0.0.1:9/console/login/sso/callback"


@pytest.fixture
def server() -> Iterator[OidcServer]:
    with OidcServer() as running:
        running.state.add_client("console", "secret", REDIRECT)
        running.state.add_user("aoi@example.jp", sub="aoi")
        yield running


def client(issuer: str, clock: list[float] | None = None) -> OidcProvider:
    ticks = clock if clock is not None else [0.0]
    return OidcProvider(
        OidcConfig(
            issuer=issuer, client_id="console", client_secret="secret", redirect_uri=REDIRECT
        ),
        timeout=2,
        clock=lambda: ticks[0],
    )


def sign_on(server: OidcServer, provider: OidcProvider) -> dict[str, object]:
    """The authorization the person would give at the provider, redeemed by the client."""
    flow = provider.begin()
    user = server.state.user("aoi")
    assert user is not None
    code = server.state.issue_code(
        client_id="console",
        redirect_uri=REDIRECT,
        user=user,
        nonce=flow.nonce,
        code_challenge=s256(flow.code_verifier),
    )
    return provider.finish(code=code, code_verifier=flow.code_verifier, nonce=flow.nonce)


def test_a_provider_that_cannot_be_reached_or_names_another_issuer_is_refused(
    server: OidcServer,
) -> None:
    unreachable = client(f"http://127.0.0.1:{free_port('127.0.0.1')}")
    server.state.issuer = "https://issuer.example"
    impostor = client(server.url)

    with pytest.raises(SsoRefused) as down:
        unreachable.begin()
    with pytest.raises(SsoRefused) as other:
        impostor.begin()

    assert down.value.reason == "provider"
    assert other.value.reason == "provider" and "issuer.example" in other.value.detail


def test_a_rotated_key_is_fetched_and_unknown_keys_are_not_refetched_at_every_token(
    server: OidcServer,
) -> None:
    clock = [0.0]
    provider = client(server.url, clock)
    assert sign_on(server, provider)["email"] == "aoi@example.jp"

    server.state.key = new_rsa_key()
    clock[0] += 1
    with pytest.raises(SsoRefused) as too_soon:
        sign_on(server, provider)
    clock[0] += REFETCH_SECONDS
    claims = sign_on(server, provider)

    assert too_soon.value.reason == "token"
    assert claims["email"] == "aoi@example.jp" and claims["aud"] == "console"
