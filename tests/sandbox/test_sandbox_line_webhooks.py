"""Simulated users' actions reach the hub as signed webhooks shaped exactly like LINE's."""

from __future__ import annotations

import httpx
from linebot.v3.webhook import WebhookParser
from linebot.v3.webhooks import (
    AccountLinkEvent,
    FollowEvent,
    MessageEvent,
    PostbackEvent,
    UnfollowEvent,
)

from sandbox.line import ids
from sandbox.line.models import SandboxChannel, SandboxUser
from sandbox.line.server import SandboxServer
from tests.sandbox.line_specs import LineSpecs
from tests.sandbox.line_support import CHANNEL_SECRET, HubReceiver

CONCRETE_EVENTS = {
    "follow": "FollowEvent",
    "unfollow": "UnfollowEvent",
    "message": "MessageEvent",
    "postback": "PostbackEvent",
    "accountLink": "AccountLinkEvent",
}


def assert_valid_webhook(specs: LineSpecs, hub: HubReceiver, channel: SandboxChannel) -> dict:
    """Check the latest webhook's signature and body against the spec; return its only event."""
    webhook = hub.received[-1]
    assert webhook.signature_is_valid(CHANNEL_SECRET)
    payload = webhook.payload
    specs.validate("webhook", "CallbackRequest", payload)
    assert payload["destination"] == channel.bot_user_id
    for event in payload["events"]:
        specs.validate("webhook", CONCRETE_EVENTS[event["type"]], event)
    [event] = payload["events"]
    return event


def test_follow_sends_a_signed_follow_event_with_a_reply_token(
    line: SandboxServer, channel: SandboxChannel, hub: HubReceiver, line_specs: LineSpecs
) -> None:
    user = line.state.add_user(display_name="Taro")
    delivery = line.simulate.follow(user.user_id)
    event = assert_valid_webhook(line_specs, hub, channel)
    assert delivery.status_code == 200
    assert delivery.events == [event]
    assert event["follow"] == {"isUnblocked": False}
    assert event["source"] == {"type": "user", "userId": user.user_id}
    assert event["mode"] == "active"
    assert event["deliveryContext"] == {"isRedelivery": False}
    assert len(event["webhookEventId"]) == 26
    assert event["replyToken"]


def test_follow_after_a_block_is_marked_unblocked(
    line: SandboxServer, channel: SandboxChannel, friend: SandboxUser, hub: HubReceiver
) -> None:
    line.simulate.unfollow(friend.user_id)
    event = line.simulate.follow(friend.user_id).events[0]
    assert event["follow"] == {"isUnblocked": True}


def test_unfollow_event_has_no_reply_token(
    line: SandboxServer,
    channel: SandboxChannel,
    friend: SandboxUser,
    hub: HubReceiver,
    line_specs: LineSpecs,
) -> None:
    line.simulate.unfollow(friend.user_id)
    event = assert_valid_webhook(line_specs, hub, channel)
    assert event["type"] == "unfollow"
    assert "replyToken" not in event


def test_text_message_event_carries_message_id_and_quote_token(
    line: SandboxServer,
    channel: SandboxChannel,
    friend: SandboxUser,
    hub: HubReceiver,
    line_specs: LineSpecs,
) -> None:
    line.simulate.send_text(friend.user_id, "こんにちは")
    event = assert_valid_webhook(line_specs, hub, channel)
    line_specs.validate("webhook", "TextMessageContent", event["message"])
    assert event["message"]["text"] == "こんにちは"
    assert event["message"]["id"].isdigit()
    assert event["message"]["quoteToken"]
    assert event["replyToken"]


def test_sticker_message_event_matches_the_spec(
    line: SandboxServer,
    http: httpx.Client,
    channel: SandboxChannel,
    friend: SandboxUser,
    hub: HubReceiver,
    line_specs: LineSpecs,
) -> None:
    sent = http.post(f"/sandbox/users/{friend.user_id}/send-sticker", json={"keywords": ["ok"]})
    assert sent.json()["status_code"] == 200
    event = assert_valid_webhook(line_specs, hub, channel)
    line_specs.validate("webhook", "StickerMessageContent", event["message"])
    assert event["message"]["keywords"] == ["ok"]


def test_postback_event_carries_data_and_params(
    line: SandboxServer,
    channel: SandboxChannel,
    friend: SandboxUser,
    hub: HubReceiver,
    line_specs: LineSpecs,
) -> None:
    line.simulate.postback(friend.user_id, "action=coupon&id=7", params={"date": "2026-12-01"})
    event = assert_valid_webhook(line_specs, hub, channel)
    assert event["postback"] == {"data": "action=coupon&id=7", "params": {"date": "2026-12-01"}}


def test_redelivery_repeats_the_event_with_its_original_timestamp(
    line: SandboxServer,
    channel: SandboxChannel,
    friend: SandboxUser,
    hub: HubReceiver,
    line_specs: LineSpecs,
) -> None:
    original = line.simulate.send_text(friend.user_id, "hello").events[0]
    line.simulate.redeliver(original["webhookEventId"])
    resent = assert_valid_webhook(line_specs, hub, channel)
    assert resent["deliveryContext"] == {"isRedelivery": True}
    assert resent["timestamp"] == original["timestamp"]
    assert resent["webhookEventId"] == original["webhookEventId"]
    assert resent["message"] == original["message"]


def test_standby_channel_sends_events_in_standby_mode(
    line: SandboxServer, channel: SandboxChannel, friend: SandboxUser, hub: HubReceiver
) -> None:
    line.state.update_channel(channel.channel_id, mode="standby")
    assert line.simulate.send_text(friend.user_id, "hi").events[0]["mode"] == "standby"


def test_connectivity_check_sends_no_events(
    line: SandboxServer, channel: SandboxChannel, hub: HubReceiver, line_specs: LineSpecs
) -> None:
    line.simulate.check_connectivity()
    assert hub.received[-1].payload == {"destination": channel.bot_user_id, "events": []}
    line_specs.validate("webhook", "CallbackRequest", hub.received[-1].payload)


def test_every_delivery_is_recorded_with_the_hub_answer(
    line: SandboxServer, channel: SandboxChannel, friend: SandboxUser, hub: HubReceiver
) -> None:
    hub.status_code = 500
    failed = line.simulate.send_text(friend.user_id, "are you there?")
    assert failed.status_code == 500 and not failed.ok
    deliveries = line.state.webhook_deliveries(channel.channel_id)
    assert [d.status_code for d in deliveries] == [200, 500]
    assert deliveries[-1].body == hub.received[-1].body


def test_unreachable_webhook_url_is_recorded_as_an_error(
    line: SandboxServer, channel: SandboxChannel
) -> None:
    line.state.update_channel(channel.channel_id, webhook_url="http://127.0.0.1:9/unreachable")
    user = line.state.add_user()
    delivery = line.simulate.follow(user.user_id)
    assert delivery.status_code is None
    assert delivery.error


def test_users_act_over_http_too(
    line: SandboxServer,
    http: httpx.Client,
    channel: SandboxChannel,
    hub: HubReceiver,
    line_specs: LineSpecs,
) -> None:
    created = http.post("/sandbox/users", json={"display_name": "Jiro"}).json()
    user_id = created["user_id"]
    assert ids.is_user_id(user_id)
    followed = http.post(f"/sandbox/users/{user_id}/follow").json()
    said = http.post(f"/sandbox/users/{user_id}/send-text", json={"text": "hi"}).json()
    assert followed["status_code"] == said["status_code"] == 200
    assert said["events"][0]["message"]["text"] == "hi"
    assert_valid_webhook(line_specs, hub, channel)
    event_id = said["events"][0]["webhookEventId"]
    redelivered = http.post(f"/sandbox/webhooks/{event_id}/redeliver").json()
    assert redelivered["events"][0]["deliveryContext"] == {"isRedelivery": True}
    users = http.get("/sandbox/users").json()
    assert users[0]["channels"][channel.channel_id]["status"] == "following"


def test_channels_are_set_up_and_patched_over_http(
    line: SandboxServer, http: httpx.Client, hub: HubReceiver
) -> None:
    created = http.post(
        "/sandbox/channels",
        json={"channel_id": "3000", "channel_secret": "s" * 32, "access_token": "t"},
    )
    assert created.status_code == 200
    patched = http.patch(
        "/sandbox/channels/3000", json={"webhook_url": hub.url, "mode": "standby"}
    ).json()
    assert patched["webhook_url"] == hub.url and patched["mode"] == "standby"
    assert ids.is_user_id(patched["bot_user_id"])
    assert http.patch("/sandbox/channels/nope", json={}).status_code == 404


def test_official_webhook_parser_accepts_every_simulated_event(
    line: SandboxServer, channel: SandboxChannel, friend: SandboxUser, hub: HubReceiver
) -> None:
    line.simulate.send_text(friend.user_id, "hi")
    line.simulate.postback(friend.user_id, "a=1")
    line.simulate.unfollow(friend.user_id)
    link_token = line.state.issue_link_token(channel, friend.user_id)
    line.simulate.account_link(link_token, "n" * 16)
    parser = WebhookParser(CHANNEL_SECRET)
    parsed = [
        type(event)
        for webhook in hub.received
        for event in parser.parse(webhook.body.decode(), webhook.headers["x-line-signature"])
    ]
    assert parsed == [FollowEvent, MessageEvent, PostbackEvent, UnfollowEvent, AccountLinkEvent]


def test_events_the_hub_did_not_acknowledge_are_redelivered_once_acknowledged(
    line: SandboxServer,
    http: httpx.Client,
    channel: SandboxChannel,
    friend: SandboxUser,
    hub: HubReceiver,
    line_specs: LineSpecs,
) -> None:
    hub.status_code = 503
    first = line.simulate.send_text(friend.user_id, "one").events[0]
    second = line.simulate.postback(friend.user_id, "two").events[0]
    hub.status_code = 200
    [redelivery] = http.post("/sandbox/webhooks/redeliver-failed").json()
    assert redelivery["status_code"] == 200
    resent = redelivery["events"]
    assert [e["webhookEventId"] for e in resent] == [
        first["webhookEventId"],
        second["webhookEventId"],
    ]
    assert all(e["deliveryContext"] == {"isRedelivery": True} for e in resent)
    assert [e["timestamp"] for e in resent] == [first["timestamp"], second["timestamp"]]
    line_specs.validate("webhook", "CallbackRequest", hub.received[-1].payload)
    assert line.simulate.redeliver_failed() == []
