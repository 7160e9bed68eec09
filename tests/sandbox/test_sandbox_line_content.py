"""Content simulated users send: served on LINE's api-data paths to the channel it was sent to,
through the official SDK, until it expires; video and audio once prepared."""

from __future__ import annotations

import base64

import httpx
import pytest
from linebot.v3.messaging import ApiClient, Configuration, MessagingApiBlob
from linebot.v3.messaging.exceptions import NotFoundException

from sandbox.line.contents import CONTENT_TTL_SECONDS
from sandbox.line.models import SandboxChannel, SandboxUser
from sandbox.line.server import SandboxServer
from tests.sandbox.line_specs import LineSpecs
from tests.sandbox.line_support import FakeClock, HubReceiver
from tests.sandbox.test_sandbox_line_webhooks import assert_valid_webhook

JPEG = b"\xff\xd8\xff\xe0" + b"\x00\x10JFIF" + bytes(range(256)) * 4 + b"\xff\xd9"


def test_an_image_a_user_sends_is_served_to_the_channel_with_its_type(
    line: SandboxServer,
    channel: SandboxChannel,
    friend: SandboxUser,
    hub: HubReceiver,
    line_specs: LineSpecs,
    messaging_blob_api: MessagingApiBlob,
) -> None:
    line.simulate.send_media(friend.user_id, "image", data=JPEG, content_type="image/jpeg")

    event = assert_valid_webhook(line_specs, hub, channel)
    line_specs.validate("webhook", "ImageMessageContent", event["message"])
    assert event["message"]["contentProvider"] == {"type": "line"}
    response = messaging_blob_api.get_message_content_with_http_info(event["message"]["id"])
    assert response.status_code == 200
    assert bytes(response.data) == JPEG
    assert response.headers["content-type"] == "image/jpeg"
    preview = messaging_blob_api.get_message_content_preview(event["message"]["id"])
    assert bytes(preview) == JPEG


def test_a_file_event_names_the_file_and_its_size_and_its_bytes_are_served(
    line: SandboxServer,
    http: httpx.Client,
    channel: SandboxChannel,
    friend: SandboxUser,
    hub: HubReceiver,
    line_specs: LineSpecs,
    messaging_blob_api: MessagingApiBlob,
) -> None:
    body = "見積書".encode() * 100
    sent = http.post(
        f"/sandbox/users/{friend.user_id}/send-media",
        json={
            "kind": "file",
            "data_base64": base64.b64encode(body).decode(),
            "content_type": "application/pdf",
            "file_name": "見積書.pdf",
        },
    )

    assert sent.json()["status_code"] == 200
    event = assert_valid_webhook(line_specs, hub, channel)
    line_specs.validate("webhook", "FileMessageContent", event["message"])
    assert event["message"]["fileName"] == "見積書.pdf"
    assert event["message"]["fileSize"] == len(body)
    assert bytes(messaging_blob_api.get_message_content(event["message"]["id"])) == body


def test_content_needs_the_channels_token_and_is_not_found_for_another_or_unknown_id(
    line: SandboxServer, http: httpx.Client, channel: SandboxChannel, friend: SandboxUser
) -> None:
    message_id = line.simulate.send_media(friend.user_id, "image").events[0]["message"]["id"]
    line.state.add_channel("2000000099", "other-secret", "other-token")
    path = f"/v2/bot/message/{message_id}/content"

    assert http.get(path).status_code == 401
    assert http.get(path, headers={"Authorization": "Bearer wrong"}).status_code == 401
    other = http.get(path, headers={"Authorization": "Bearer other-token"})
    assert other.status_code == 404 and other.json() == {"message": "Not found"}
    unknown = http.get(
        "/v2/bot/message/100000000000000000/content",
        headers={"Authorization": f"Bearer {channel.access_token}"},
    )
    assert unknown.status_code == 404


def test_content_expires_after_its_keeping_period(
    line: SandboxServer,
    clock: FakeClock,
    friend: SandboxUser,
    messaging_blob_api: MessagingApiBlob,
) -> None:
    message_id = line.simulate.send_media(friend.user_id, "image").events[0]["message"]["id"]
    clock.advance(CONTENT_TTL_SECONDS + 1)

    with pytest.raises(NotFoundException):
        messaging_blob_api.get_message_content(message_id)


def test_a_video_is_served_once_line_has_prepared_it(
    line: SandboxServer,
    http: httpx.Client,
    channel: SandboxChannel,
    friend: SandboxUser,
    hub: HubReceiver,
    line_specs: LineSpecs,
    messaging_blob_api: MessagingApiBlob,
) -> None:
    line.simulate.send_media(
        friend.user_id, "video", data=b"\x00\x00\x00\x18ftypmp42", transcoding="processing"
    )
    event = assert_valid_webhook(line_specs, hub, channel)
    line_specs.validate("webhook", "VideoMessageContent", event["message"])
    message_id = event["message"]["id"]

    status = messaging_blob_api.get_message_content_transcoding_by_message_id(message_id)
    assert status.status == "processing"
    assert messaging_blob_api.get_message_content_with_http_info(message_id).status_code == 202

    http.post(f"/sandbox/contents/{message_id}/transcoding", json={"status": "succeeded"})

    status = messaging_blob_api.get_message_content_transcoding_by_message_id(message_id)
    assert status.status == "succeeded"
    content = messaging_blob_api.get_message_content_with_http_info(message_id)
    assert content.status_code == 200 and content.headers["content-type"] == "video/mp4"


def test_an_external_image_is_announced_with_its_urls_and_line_keeps_nothing(
    line: SandboxServer,
    channel: SandboxChannel,
    friend: SandboxUser,
    hub: HubReceiver,
    line_specs: LineSpecs,
) -> None:
    line.simulate.send_media(
        friend.user_id,
        "image",
        external_url="https://img.example.com/a.jpg",
        preview_url="https://img.example.com/a-small.jpg",
    )

    event = assert_valid_webhook(line_specs, hub, channel)
    line_specs.validate("webhook", "ImageMessageContent", event["message"])
    assert event["message"]["contentProvider"]["type"] == "external"
    configuration = Configuration(access_token=channel.access_token, host=line.url)
    with ApiClient(configuration) as client, pytest.raises(NotFoundException):
        MessagingApiBlob(client).get_message_content(event["message"]["id"])


def test_audio_has_its_duration_and_no_preview(
    line: SandboxServer,
    channel: SandboxChannel,
    friend: SandboxUser,
    hub: HubReceiver,
    line_specs: LineSpecs,
    messaging_blob_api: MessagingApiBlob,
) -> None:
    line.simulate.send_media(friend.user_id, "audio", data=b"m4a", duration_ms=4200)

    event = assert_valid_webhook(line_specs, hub, channel)
    line_specs.validate("webhook", "AudioMessageContent", event["message"])
    assert event["message"]["duration"] == 4200
    assert bytes(messaging_blob_api.get_message_content(event["message"]["id"])) == b"m4a"
    with pytest.raises(NotFoundException):
        messaging_blob_api.get_message_content_preview(event["message"]["id"])
