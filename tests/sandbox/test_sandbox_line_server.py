"""The sandbox server itself: lifecycle, request ids, authentication."""

from __future__ import annotations

import socket

import httpx
import pytest
from linebot.v3.messaging import MessagingApi, PushMessageRequest, TextMessage
from linebot.v3.messaging.exceptions import UnauthorizedException

from sandbox.line.models import SandboxChannel, SandboxUser
from sandbox.line.server import SandboxServer


def test_server_listens_on_an_ephemeral_port_until_stopped_and_restarts() -> None:
    server = SandboxServer().start()
    port = server.port
    assert server.url == f"http://127.0.0.1:{port}"
    with socket.create_connection(("127.0.0.1", port), timeout=1):
        pass
    server.stop()
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
        pass
    with pytest.raises(RuntimeError):
        _ = server.url
    server.start()
    assert httpx.get(f"{server.url}/oauth2/v2.1/certs").status_code == 200
    server.stop()


def test_every_response_carries_a_line_request_id(line: SandboxServer, http: httpx.Client) -> None:
    ok = http.get("/oauth2/v2.1/certs")
    missing = http.get("/v2/bot/no-such-endpoint")
    assert ok.headers["x-line-request-id"] != missing.headers["x-line-request-id"]
    assert missing.status_code == 404


def test_unknown_access_token_is_401_with_line_error_body(
    line: SandboxServer, http: httpx.Client, channel: SandboxChannel, friend: SandboxUser
) -> None:
    response = http.post(
        "/v2/bot/message/push",
        headers={"authorization": "Bearer wrong-token"},
        json={"to": friend.user_id, "messages": [{"type": "text", "text": "hi"}]},
    )
    assert response.status_code == 401
    assert response.json() == {
        "message": "Authentication failed. Confirm that the access token in the authorization "
        "header is valid."
    }
    assert line.state.inbox(friend.user_id) == []


def test_missing_authorization_header_is_401_naming_the_scheme(
    line: SandboxServer, http: httpx.Client, channel: SandboxChannel
) -> None:
    response = http.get("/v2/bot/info")
    assert response.status_code == 401
    assert response.json() == {
        "message": "Authorization header required. Must follow the scheme, "
        "'Authorization: Bearer <ACCESS TOKEN>'"
    }


def test_sdk_raises_unauthorized_for_a_revoked_token(
    line: SandboxServer, channel: SandboxChannel, friend: SandboxUser, messaging_api: MessagingApi
) -> None:
    line.state.update_channel(channel.channel_id, access_token="rotated-token")
    request = PushMessageRequest(to=friend.user_id, messages=[TextMessage(text="hi")])
    with pytest.raises(UnauthorizedException) as raised:
        messaging_api.push_message(request)
    assert raised.value.status == 401
    assert raised.value.headers["x-line-request-id"]
