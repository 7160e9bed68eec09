"""LINE Login stand-in: ID tokens, JWKS and key rotation, token verification, account link."""

from __future__ import annotations

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import KeySet, OctKey
from linebot.v3.messaging import MessagingApi

from sandbox.line.models import SandboxChannel, SandboxUser
from sandbox.line.server import SandboxServer
from tests.sandbox.line_specs import LineSpecs
from tests.sandbox.line_support import (
    LOGIN_CHANNEL_ID,
    LOGIN_CHANNEL_SECRET,
    FakeClock,
    HubReceiver,
)


def verify(http: httpx.Client, **form: str) -> httpx.Response:
    """Call ``POST /oauth2/v2.1/verify`` as the hub does."""
    return http.post("/oauth2/v2.1/verify", data=form)


def test_es256_id_token_verifies_against_the_published_jwks(
    line: SandboxServer, http: httpx.Client, channel: SandboxChannel, friend: SandboxUser
) -> None:
    token = line.state.issue_id_token(friend.user_id, LOGIN_CHANNEL_ID, nonce="n-123")
    keys = KeySet.import_key_set(http.get("/oauth2/v2.1/certs").json())
    decoded = jwt.decode(token, keys, algorithms=["ES256"])
    assert decoded.header["kid"] in {k.kid for k in keys.keys}
    claims = decoded.claims
    assert claims["iss"] == "https://access.line.me"
    assert (claims["sub"], claims["aud"], claims["nonce"]) == (
        friend.user_id,
        LOGIN_CHANNEL_ID,
        "n-123",
    )
    assert claims["exp"] - claims["iat"] == 3600
    assert claims["name"] == "Hanako"
    assert claims["picture"] == "https://example.com/h.png"
    assert claims["amr"] == ["linesso"]


def test_hs256_id_token_is_signed_with_the_login_channel_secret(
    line: SandboxServer, http: httpx.Client, channel: SandboxChannel, friend: SandboxUser
) -> None:
    token = line.state.issue_id_token(friend.user_id, LOGIN_CHANNEL_ID, alg="HS256")
    key = OctKey.import_key(LOGIN_CHANNEL_SECRET.encode())
    assert jwt.decode(token, key, algorithms=["HS256"]).claims["sub"] == friend.user_id
    assert verify(http, id_token=token, client_id=LOGIN_CHANNEL_ID).status_code == 200


def test_verify_endpoint_returns_the_claims(
    line: SandboxServer, http: httpx.Client, channel: SandboxChannel, friend: SandboxUser
) -> None:
    token = line.state.issue_id_token(friend.user_id, LOGIN_CHANNEL_ID, nonce="abc")
    response = verify(
        http, id_token=token, client_id=LOGIN_CHANNEL_ID, nonce="abc", user_id=friend.user_id
    )
    assert response.status_code == 200
    assert response.json()["sub"] == friend.user_id


@pytest.mark.parametrize(
    ("form", "description"),
    [
        ({"client_id": "9999999999"}, "Invalid IdToken Audience."),
        ({"nonce": "other"}, "Invalid IdToken Nonce."),
        ({"user_id": "U" + "f" * 32}, "Invalid IdToken Subject Identifier."),
        ({"id_token": "not.a.jwt"}, "Invalid IdToken."),
    ],
)
def test_verify_endpoint_rejects_like_line(
    line: SandboxServer,
    http: httpx.Client,
    channel: SandboxChannel,
    friend: SandboxUser,
    form: dict[str, str],
    description: str,
) -> None:
    token = line.state.issue_id_token(friend.user_id, LOGIN_CHANNEL_ID, nonce="abc")
    response = verify(http, **{"id_token": token, "client_id": LOGIN_CHANNEL_ID, **form})
    assert response.status_code == 400
    assert response.json() == {"error": "invalid_request", "error_description": description}


def test_expired_id_token_is_rejected(
    line: SandboxServer,
    http: httpx.Client,
    channel: SandboxChannel,
    friend: SandboxUser,
    clock: FakeClock,
) -> None:
    token = line.state.issue_id_token(friend.user_id, LOGIN_CHANNEL_ID, expires_in=60)
    clock.advance(61)
    response = verify(http, id_token=token, client_id=LOGIN_CHANNEL_ID)
    assert response.json() == {"error": "invalid_request", "error_description": "IdToken expired."}


def test_rotated_key_keeps_the_old_kid_published_for_a_while(
    line: SandboxServer,
    http: httpx.Client,
    channel: SandboxChannel,
    friend: SandboxUser,
    clock: FakeClock,
) -> None:
    week = 7 * 86400
    old_token = line.state.issue_id_token(friend.user_id, LOGIN_CHANNEL_ID, expires_in=week)
    old_kid = line.state.published_keys()[0].kid
    new_kid = line.state.rotate_signing_key(grace_seconds=3600)
    new_token = line.state.issue_id_token(friend.user_id, LOGIN_CHANNEL_ID, expires_in=week)
    kids = [k["kid"] for k in http.get("/oauth2/v2.1/certs").json()["keys"]]
    assert kids == [old_kid, new_kid]
    assert verify(http, id_token=old_token, client_id=LOGIN_CHANNEL_ID).status_code == 200
    clock.advance(3601)
    kids = [k["kid"] for k in http.get("/oauth2/v2.1/certs").json()["keys"]]
    assert kids == [new_kid]
    assert verify(http, id_token=old_token, client_id=LOGIN_CHANNEL_ID).status_code == 400
    assert verify(http, id_token=new_token, client_id=LOGIN_CHANNEL_ID).status_code == 200


def test_id_tokens_are_issued_over_http_for_liff(
    line: SandboxServer, http: httpx.Client, channel: SandboxChannel, friend: SandboxUser
) -> None:
    issued = http.post(
        f"/sandbox/users/{friend.user_id}/id-token",
        json={"login_channel_id": LOGIN_CHANNEL_ID, "nonce": "xyz"},
    ).json()
    claims = verify(http, id_token=issued["id_token"], client_id=LOGIN_CHANNEL_ID).json()
    assert claims["nonce"] == "xyz"
    profile = http.get(
        "/v2/profile", headers={"authorization": f"Bearer {issued['access_token']}"}
    ).json()
    assert profile["userId"] == friend.user_id
    forged = http.get("/v2/profile", headers={"authorization": "Bearer forged"})
    assert forged.status_code == 401


def test_access_token_verification_reports_scope_client_and_lifetime(
    line: SandboxServer,
    http: httpx.Client,
    channel: SandboxChannel,
    friend: SandboxUser,
    clock: FakeClock,
    line_specs: LineSpecs,
) -> None:
    token = line.state.issue_access_token(friend.user_id, LOGIN_CHANNEL_ID, expires_in=100)
    clock.advance(40)
    body = http.get("/oauth2/v2.1/verify", params={"access_token": token}).json()
    line_specs.validate("channel-access-token", "VerifyChannelAccessTokenResponse", body)
    assert body == {"scope": "profile openid", "client_id": LOGIN_CHANNEL_ID, "expires_in": 60}
    clock.advance(60)
    expired = http.get("/oauth2/v2.1/verify", params={"access_token": token})
    assert expired.status_code == 400


def test_account_link_consumes_the_token_and_sends_ok_with_the_nonce(
    line: SandboxServer,
    http: httpx.Client,
    channel: SandboxChannel,
    friend: SandboxUser,
    hub: HubReceiver,
    messaging_api: MessagingApi,
    line_specs: LineSpecs,
) -> None:
    link_token = messaging_api.issue_link_token(friend.user_id).link_token
    params = {"linkToken": link_token, "nonce": "a" * 32}
    page = http.get("/dialog/bot/accountLink", params=params)
    assert page.status_code == 200
    event = hub.received[-1].payload["events"][0]
    line_specs.validate("webhook", "AccountLinkEvent", event)
    assert event["link"] == {"result": "ok", "nonce": "a" * 32}
    assert event["replyToken"]
    again = http.get("/dialog/bot/accountLink", params=params)
    assert again.status_code == 200
    failed = hub.received[-1].payload["events"][0]
    assert failed["link"]["result"] == "failed"
    assert "replyToken" not in failed


def test_expired_or_forced_account_link_fails(
    line: SandboxServer,
    http: httpx.Client,
    channel: SandboxChannel,
    friend: SandboxUser,
    hub: HubReceiver,
    clock: FakeClock,
    messaging_api: MessagingApi,
) -> None:
    expired = messaging_api.issue_link_token(friend.user_id).link_token
    clock.advance(601)
    assert line.simulate.account_link(expired, "n" * 16).events[0]["link"]["result"] == "failed"
    forced = messaging_api.issue_link_token(friend.user_id).link_token
    http.get(
        "/dialog/bot/accountLink",
        params={"linkToken": forced, "nonce": "n" * 16, "sandbox_result": "failed"},
    )
    assert hub.received[-1].payload["events"][0]["link"]["result"] == "failed"


def test_unknown_link_token_is_400_and_sends_nothing(
    line: SandboxServer, http: httpx.Client, channel: SandboxChannel, hub: HubReceiver
) -> None:
    params = {"linkToken": "forged", "nonce": "n" * 16}
    assert http.get("/dialog/bot/accountLink", params=params).status_code == 400
    assert hub.received == []


def test_liff_sdk_stand_in_is_served_as_javascript(line: SandboxServer, http: httpx.Client) -> None:
    response = http.get("/liff/sdk.js")
    assert response.headers["content-type"].startswith("application/javascript")
    for name in ("init", "isLoggedIn", "login", "getIDToken", "getProfile", "closeWindow"):
        assert f"{name}:" in response.text


def test_liff_login_page_lets_the_browser_pick_a_user(
    line: SandboxServer, http: httpx.Client, friend: SandboxUser
) -> None:
    page = http.get("/sandbox/liff/login", params={"redirect_uri": "http://hub/liff?x=1"})
    assert f"http://hub/liff?x=1&amp;sandbox_user={friend.user_id}" in page.text
