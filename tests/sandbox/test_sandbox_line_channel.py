"""Channel-level APIs and sandbox controls: webhook endpoint, LIFF apps, reset, the overview."""

from __future__ import annotations

import threading
import uuid

import httpx
import pytest
from linebot.v3.messaging import (
    ApiException,
    MessagingApi,
    PushMessageRequest,
    SetWebhookEndpointRequest,
    TextMessage,
)

# Renamed so pytest does not take the SDK model for a test class.
from linebot.v3.messaging import TestWebhookEndpointRequest as WebhookTestRequest

from sandbox.line.models import SandboxChannel, SandboxUser
from sandbox.line.server import SandboxServer
from tests.sandbox.line_support import LOGIN_CHANNEL_ID, HubReceiver


def test_hub_registers_its_webhook_url_through_the_api(
    line: SandboxServer, channel: SandboxChannel, hub: HubReceiver, messaging_api: MessagingApi
) -> None:
    line.state.update_channel(channel.channel_id, webhook_url=None)
    assert messaging_api.get_webhook_endpoint().active is False
    messaging_api.set_webhook_endpoint(SetWebhookEndpointRequest(endpoint=hub.url))
    endpoint = messaging_api.get_webhook_endpoint()
    assert (endpoint.endpoint, endpoint.active) == (hub.url, True)
    result = messaging_api.test_webhook_endpoint(WebhookTestRequest())
    assert (result.success, result.status_code) == (True, 200)
    assert hub.received[-1].payload["events"] == []


def test_webhook_test_reports_an_unreachable_endpoint(
    channel: SandboxChannel, messaging_api: MessagingApi
) -> None:
    request = WebhookTestRequest(endpoint="http://127.0.0.1:9/nothing")
    result = messaging_api.test_webhook_endpoint(request)
    assert (result.success, result.status_code) == (False, 0)
    assert result.detail


def test_concurrent_pushes_with_one_retry_key_deliver_once(
    line: SandboxServer, friend: SandboxUser, messaging_api: MessagingApi
) -> None:
    retry_key = str(uuid.uuid4())
    request = PushMessageRequest(to=friend.user_id, messages=[TextMessage(text="once")])
    statuses: list[int] = []

    def send() -> None:
        try:
            messaging_api.push_message(request, x_line_retry_key=retry_key)
            statuses.append(200)
        except ApiException as exc:
            statuses.append(exc.status)

    threads = [threading.Thread(target=send) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [200, 409, 409, 409]
    assert len(line.state.inbox(friend.user_id)) == 1


def test_liff_url_opens_the_hub_page_as_the_chosen_user(
    line: SandboxServer, http: httpx.Client, channel: SandboxChannel, friend: SandboxUser
) -> None:
    created = http.post(
        "/sandbox/liff-apps",
        json={"login_channel_id": LOGIN_CHANNEL_ID, "endpoint_url": "http://hub.test/liff?a=1"},
    ).json()
    liff_id = created["liff_id"]
    assert liff_id.startswith(f"{LOGIN_CHANNEL_ID}-")
    opened = http.get(
        f"/sandbox/liff-apps/{liff_id}/open",
        params={"sandbox_user": friend.user_id, "path": "/card?from=menu"},
    )
    assert opened.status_code == 302
    assert opened.headers["location"] == (
        f"http://hub.test/liff/card?a=1&from=menu&sandbox_user={friend.user_id}"
    )
    chooser = http.get(f"/sandbox/liff-apps/{liff_id}/open")
    assert friend.user_id in chooser.text


def test_overview_page_links_liff_urls_in_received_messages(
    line: SandboxServer,
    http: httpx.Client,
    channel: SandboxChannel,
    friend: SandboxUser,
    messaging_api: MessagingApi,
) -> None:
    app = line.state.add_liff_app(LOGIN_CHANNEL_ID, "http://hub.test/liff")
    text = f"Link your card: https://liff.line.me/{app.liff_id}/card"
    messaging_api.push_message(
        PushMessageRequest(to=friend.user_id, messages=[TextMessage(text=text)])
    )
    page = http.get("/sandbox").text
    assert f"/sandbox/liff-apps/{app.liff_id}/open?sandbox_user={friend.user_id}" in page
    assert "Recent webhooks" in page and "follow" in page
    assert f"data-user='{friend.user_id}' data-action='send-text'" in page
    script = http.get("/sandbox/static/overview.js")
    assert script.headers["content-type"].startswith("application/javascript")


def test_reset_forgets_channels_users_and_traffic(
    line: SandboxServer, channel: SandboxChannel, friend: SandboxUser
) -> None:
    line.state.reset()
    assert line.state.channels == {} and line.state.users == {}
    assert line.state.webhook_deliveries() == [] and line.state.api_calls() == []


def test_limits_and_failures_are_set_over_http(
    line: SandboxServer,
    http: httpx.Client,
    friend: SandboxUser,
    messaging_api: MessagingApi,
) -> None:
    http.post("/sandbox/failures", json={"endpoint": "getProfile", "statuses": [503]})
    http.post("/sandbox/rate-limits", json={"endpoint": "getProfile", "limit": 1})
    with pytest.raises(ApiException) as failed:
        messaging_api.get_profile(friend.user_id)
    messaging_api.get_profile(friend.user_id)
    with pytest.raises(ApiException) as limited:
        messaging_api.get_profile(friend.user_id)
    assert (failed.value.status, limited.value.status) == (503, 429)
    calls = http.get("/sandbox/api-calls").json()
    assert [c["status_code"] for c in calls] == [503, 200, 429]
    assert calls[1]["response"]["userId"] == friend.user_id
    assert http.post("/sandbox/reset").status_code == 204
    assert http.get("/sandbox/users").json() == []
