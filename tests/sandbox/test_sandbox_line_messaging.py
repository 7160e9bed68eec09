"""Sending through the official SDK: delivery, LINE's limits and errors, retry keys, quota."""

from __future__ import annotations

import time
import uuid

import httpx
import pytest
import urllib3
from linebot.v3.messaging import (
    ApiClient,
    ApiException,
    Configuration,
    Limit,
    MessagingApi,
    MulticastRequest,
    NarrowcastRequest,
    PushMessageRequest,
    ReplyMessageRequest,
    ShowLoadingAnimationRequest,
    TextMessage,
    ValidateMessageRequest,
)
from linebot.v3.messaging.models import BroadcastRequest

from sandbox.line.models import SandboxChannel, SandboxUser
from sandbox.line.server import SandboxServer
from tests.sandbox.line_support import ACCESS_TOKEN, FakeClock

PUSH = "/v2/bot/message/push"


def push_text(api: MessagingApi, to: str, text: str = "hello", retry_key: str | None = None):
    """Push one text message with the SDK and return the ``ApiResponse``."""
    request = PushMessageRequest(to=to, messages=[TextMessage(text=text)])
    return api.push_message_with_http_info(request, x_line_retry_key=retry_key)


def raw_post(http: httpx.Client, path: str, body: dict, **headers: str) -> httpx.Response:
    """POST a body the SDK would refuse to build, to see the platform's own validation."""
    auth = {"authorization": f"Bearer {ACCESS_TOKEN}", **headers}
    return http.post(path, json=body, headers=auth)


def test_push_lands_in_the_users_inbox_with_request_metadata(
    line: SandboxServer, friend: SandboxUser, messaging_api: MessagingApi
) -> None:
    retry_key = str(uuid.uuid4())
    response = push_text(messaging_api, friend.user_id, "ご予約ありがとうございます", retry_key)
    assert response.status_code == 200
    [sent] = response.data.sent_messages
    [received] = line.state.inbox(friend.user_id)
    assert received.message == {"type": "text", "text": "ご予約ありがとうございます"}
    assert received.endpoint == "pushMessage"
    assert received.message_id == sent.id
    assert received.request_id == response.headers["x-line-request-id"]
    assert received.retry_key == retry_key
    assert sent.quote_token


def test_push_to_a_user_who_blocked_is_accepted_but_not_delivered(
    line: SandboxServer, friend: SandboxUser, messaging_api: MessagingApi
) -> None:
    line.simulate.unfollow(friend.user_id)
    assert push_text(messaging_api, friend.user_id).status_code == 200
    assert line.state.inbox(friend.user_id) == []


def test_push_to_an_unknown_user_fails(
    line: SandboxServer, channel: SandboxChannel, messaging_api: MessagingApi
) -> None:
    with pytest.raises(ApiException) as raised:
        push_text(messaging_api, "U" + "0" * 32)
    assert raised.value.status == 400


def test_retry_key_is_accepted_once_then_409(
    line: SandboxServer, friend: SandboxUser, messaging_api: MessagingApi
) -> None:
    retry_key = str(uuid.uuid4())
    first = push_text(messaging_api, friend.user_id, retry_key=retry_key)
    with pytest.raises(ApiException) as raised:
        push_text(messaging_api, friend.user_id, retry_key=retry_key)
    assert raised.value.status == 409
    accepted_id = raised.value.headers["x-line-accepted-request-id"]
    assert accepted_id == first.headers["x-line-request-id"]
    assert len(line.state.inbox(friend.user_id)) == 1


def test_retry_key_is_accepted_again_after_24_hours(
    line: SandboxServer, friend: SandboxUser, messaging_api: MessagingApi, clock: FakeClock
) -> None:
    retry_key = str(uuid.uuid4())
    push_text(messaging_api, friend.user_id, retry_key=retry_key)
    clock.advance(24 * 3600 + 1)
    assert push_text(messaging_api, friend.user_id, retry_key=retry_key).status_code == 200


def test_expired_reply_token_is_refused(
    line: SandboxServer, friend: SandboxUser, messaging_api: MessagingApi, clock: FakeClock
) -> None:
    token = line.simulate.send_text(friend.user_id, "hi").events[0]["replyToken"]
    clock.advance(61)
    request = ReplyMessageRequest(reply_token=token, messages=[TextMessage(text="late")])
    with pytest.raises(ApiException) as raised:
        messaging_api.reply_message(request)
    assert raised.value.status == 400


def test_reply_tokens_can_be_made_to_expire_sooner_through_the_control_api(
    line: SandboxServer,
    http: httpx.Client,
    friend: SandboxUser,
    messaging_api: MessagingApi,
    clock: FakeClock,
) -> None:
    assert http.post("/sandbox/reply-token-ttl", json={"seconds": 5}).status_code == 204
    assert http.post("/sandbox/reply-token-ttl", json={"seconds": 0}).status_code == 422
    try:
        token = line.simulate.send_text(friend.user_id, "hi").events[0]["replyToken"]
        clock.advance(6)
        request = ReplyMessageRequest(reply_token=token, messages=[TextMessage(text="late")])
        with pytest.raises(ApiException) as raised:
            messaging_api.reply_message(request)
        assert "Invalid reply token" in raised.value.body
    finally:
        line.state.set_reply_token_ttl(60)


def test_retry_key_must_be_a_uuid(
    line: SandboxServer, http: httpx.Client, friend: SandboxUser
) -> None:
    body = {"to": friend.user_id, "messages": [{"type": "text", "text": "hi"}]}
    response = raw_post(http, PUSH, body, **{"X-Line-Retry-Key": "not-a-uuid"})
    assert response.status_code == 400
    assert line.state.inbox(friend.user_id) == []


def test_more_than_five_messages_is_400_with_details(
    line: SandboxServer, http: httpx.Client, friend: SandboxUser
) -> None:
    messages = [{"type": "text", "text": str(i)} for i in range(6)]
    response = raw_post(http, PUSH, {"to": friend.user_id, "messages": messages})
    assert response.status_code == 400
    assert response.json() == {
        "message": "The request body has 1 error(s)",
        "details": [{"message": "Size must be between 1 and 5", "property": "messages"}],
    }


def test_text_limit_counts_utf16_code_units(
    line: SandboxServer, friend: SandboxUser, messaging_api: MessagingApi
) -> None:
    # An emoji outside the BMP is two UTF-16 code units: 2,500 of them is exactly 5,000.
    assert push_text(messaging_api, friend.user_id, "😀" * 2500).status_code == 200
    with pytest.raises(ApiException) as raised:
        push_text(messaging_api, friend.user_id, "😀" * 2500 + "a")
    assert raised.value.status == 400
    assert '"property":"messages[0].text"' in raised.value.body


def test_multicast_delivers_to_friends_only(
    line: SandboxServer, friend: SandboxUser, messaging_api: MessagingApi
) -> None:
    blocked = line.state.add_user(display_name="Blocked")
    line.simulate.follow(blocked.user_id)
    line.simulate.unfollow(blocked.user_id)
    request = MulticastRequest(
        to=[friend.user_id, blocked.user_id], messages=[TextMessage(text="sale")]
    )
    messaging_api.multicast(request, x_line_retry_key=str(uuid.uuid4()))
    assert [m.endpoint for m in line.state.inbox(friend.user_id)] == ["multicast"]
    assert line.state.inbox(blocked.user_id) == []


def test_custom_aggregation_units_are_recorded_and_counted_for_the_month(
    line: SandboxServer, http: httpx.Client, friend: SandboxUser, messaging_api: MessagingApi
) -> None:
    for unit in ("winter_sale", "thanks_first", "winter_sale"):
        request = MulticastRequest(
            to=[friend.user_id], messages=[TextMessage(text=unit)], custom_aggregation_units=[unit]
        )
        messaging_api.multicast(request, x_line_retry_key=str(uuid.uuid4()))
    push = PushMessageRequest(to=friend.user_id, messages=[TextMessage(text="plain")])
    messaging_api.push_message(push)
    received = [m.aggregation_unit for m in line.state.inbox(friend.user_id)]
    assert received == ["winter_sale", "thanks_first", "winter_sale", None]
    assert messaging_api.get_aggregation_unit_usage().num_of_custom_aggregation_units == 2
    names = messaging_api.get_aggregation_unit_name_list(limit="1")
    assert names.custom_aggregation_units == ["winter_sale"]
    rest = messaging_api.get_aggregation_unit_name_list(start=names.next)
    assert rest.custom_aggregation_units == ["thanks_first"]

    for units in (["a", "b"], ["has space"], ["x" * 31]):
        body = {
            "to": [friend.user_id],
            "messages": [{"type": "text", "text": "x"}],
            "customAggregationUnits": units,
        }
        assert raw_post(http, "/v2/bot/message/multicast", body).status_code == 400
    assert len(line.state.inbox(friend.user_id)) == 4


def test_multicast_takes_at_most_500_user_ids(
    line: SandboxServer, http: httpx.Client, friend: SandboxUser, messaging_api: MessagingApi
) -> None:
    ok = MulticastRequest(to=[friend.user_id] * 500, messages=[TextMessage(text="x")])
    messaging_api.multicast(ok)
    body = {"to": [friend.user_id] * 501, "messages": [{"type": "text", "text": "x"}]}
    response = raw_post(http, "/v2/bot/message/multicast", body)
    assert response.status_code == 400
    assert response.json()["details"] == [
        {"message": "Size must be between 1 and 500", "property": "to"}
    ]
    assert len(line.state.inbox(friend.user_id)) == 1


def test_reply_token_works_once(
    line: SandboxServer, friend: SandboxUser, messaging_api: MessagingApi
) -> None:
    token = line.simulate.send_text(friend.user_id, "hi").events[0]["replyToken"]
    request = ReplyMessageRequest(reply_token=token, messages=[TextMessage(text="hello!")])
    sent = messaging_api.reply_message(request)
    assert [m.endpoint for m in line.state.inbox(friend.user_id)] == ["replyMessage"]
    assert sent.sent_messages[0].id == line.state.inbox(friend.user_id)[0].message_id
    with pytest.raises(ApiException) as raised:
        messaging_api.reply_message(request)
    assert raised.value.status == 400
    assert "Invalid reply token" in raised.value.body


def test_replies_are_free_but_pushes_count_against_the_quota(
    line: SandboxServer, channel: SandboxChannel, friend: SandboxUser, messaging_api: MessagingApi
) -> None:
    line.state.set_monthly_quota(channel.channel_id, 1)
    assert messaging_api.get_message_quota().value == 1
    push_text(messaging_api, friend.user_id)
    token = line.simulate.send_text(friend.user_id, "hi").events[0]["replyToken"]
    messaging_api.reply_message(
        ReplyMessageRequest(reply_token=token, messages=[TextMessage(text="free")])
    )
    assert messaging_api.get_message_quota_consumption().total_usage == 1
    with pytest.raises(ApiException) as raised:
        push_text(messaging_api, friend.user_id)
    assert raised.value.status == 429
    assert "You have reached your monthly limit." in raised.value.body


def test_rate_limit_is_per_endpoint_and_answers_429(
    line: SandboxServer, friend: SandboxUser, messaging_api: MessagingApi
) -> None:
    line.state.set_rate_limit("pushMessage", 2)
    push_text(messaging_api, friend.user_id)
    push_text(messaging_api, friend.user_id)
    with pytest.raises(ApiException) as raised:
        push_text(messaging_api, friend.user_id)
    assert raised.value.status == 429
    assert messaging_api.get_profile(friend.user_id).user_id == friend.user_id


def test_injected_failures_come_first_then_the_call_succeeds(
    line: SandboxServer, friend: SandboxUser, messaging_api: MessagingApi
) -> None:
    line.state.inject_failures("pushMessage", [500, 429])
    retry_key = str(uuid.uuid4())
    statuses = []
    for _ in range(2):
        with pytest.raises(ApiException) as raised:
            push_text(messaging_api, friend.user_id, retry_key=retry_key)
        statuses.append(raised.value.status)
    assert statuses == [500, 429]
    assert push_text(messaging_api, friend.user_id, retry_key=retry_key).status_code == 200
    assert len(line.state.inbox(friend.user_id)) == 1


def test_request_accepted_after_a_client_timeout_gets_409_on_retry(
    line: SandboxServer, friend: SandboxUser, messaging_api: MessagingApi
) -> None:
    line.state.inject_delay("pushMessage", 0.5)
    retry_key = str(uuid.uuid4())
    request = PushMessageRequest(to=friend.user_id, messages=[TextMessage(text="once")])
    with pytest.raises(urllib3.exceptions.ReadTimeoutError):
        messaging_api.push_message(request, x_line_retry_key=retry_key, _request_timeout=0.1)
    with pytest.raises(ApiException) as raised:
        messaging_api.push_message(request, x_line_retry_key=retry_key)
    assert raised.value.status == 409
    assert len(line.state.inbox(friend.user_id)) == 1


def test_a_set_latency_answers_every_call_that_much_later(
    line: SandboxServer, friend: SandboxUser, messaging_api: MessagingApi
) -> None:
    line.state.set_latency(0.2)
    try:
        started = time.monotonic()
        for _ in range(2):
            push_text(messaging_api, friend.user_id, retry_key=str(uuid.uuid4()))
        took = time.monotonic() - started
    finally:
        line.state.set_latency(0)
    assert took >= 0.4
    assert len(line.state.inbox(friend.user_id)) == 2


def test_profile_of_a_friend_and_404_once_blocked(
    line: SandboxServer, friend: SandboxUser, messaging_api: MessagingApi
) -> None:
    profile = messaging_api.get_profile(friend.user_id)
    assert (profile.display_name, profile.picture_url, profile.language) == (
        "Hanako",
        "https://example.com/h.png",
        "ja",
    )
    line.simulate.unfollow(friend.user_id)
    with pytest.raises(ApiException) as raised:
        messaging_api.get_profile(friend.user_id)
    assert raised.value.status == 404


def test_follower_ids_are_paged_with_next(
    line: SandboxServer, channel: SandboxChannel, messaging_api: MessagingApi
) -> None:
    user_ids = []
    for index in range(5):
        user = line.state.add_user(display_name=f"user {index}")
        line.simulate.follow(user.user_id)
        user_ids.append(user.user_id)
    first = messaging_api.get_followers(limit=2)
    pages = [first.user_ids]
    start = first.next
    while start:
        page = messaging_api.get_followers(start=start, limit=2)
        pages.append(page.user_ids)
        start = page.next
    assert [len(p) for p in pages] == [2, 2, 1]
    assert [uid for page in pages for uid in page] == user_ids


def test_narrowcast_is_accepted_then_reports_progress(
    line: SandboxServer, friend: SandboxUser, messaging_api: MessagingApi
) -> None:
    request = NarrowcastRequest(messages=[TextMessage(text="news")], limit=Limit(max=10))
    response = messaging_api.narrowcast_with_http_info(request, x_line_retry_key=str(uuid.uuid4()))
    assert response.status_code == 202
    progress = messaging_api.get_narrowcast_progress(response.headers["x-line-request-id"])
    assert (progress.phase, progress.success_count, progress.target_count) == ("succeeded", 1, 1)
    assert line.state.inbox(friend.user_id)[0].endpoint == "narrowcast"


def test_broadcast_reaches_every_friend(
    line: SandboxServer, friend: SandboxUser, messaging_api: MessagingApi
) -> None:
    other = line.state.add_user()
    line.simulate.follow(other.user_id)
    messaging_api.broadcast(BroadcastRequest(messages=[TextMessage(text="hello all")]))
    assert len(line.state.inbox(friend.user_id)) == len(line.state.inbox(other.user_id)) == 1


def test_bot_info_names_the_bot_user(channel: SandboxChannel, messaging_api: MessagingApi) -> None:
    info = messaging_api.get_bot_info()
    assert info.user_id == channel.bot_user_id
    assert info.display_name == channel.display_name


def test_inbox_is_visible_over_http(
    line: SandboxServer, http: httpx.Client, friend: SandboxUser, messaging_api: MessagingApi
) -> None:
    push_text(messaging_api, friend.user_id, "see me")
    messages = http.get(f"/sandbox/users/{friend.user_id}/messages").json()
    assert [m["message"]["text"] for m in messages] == ["see me"]
    page = http.get("/sandbox")
    assert "see me" in page.text and "Hanako" in page.text


def test_messages_are_validated_without_being_sent(
    line: SandboxServer, http: httpx.Client, friend: SandboxUser, messaging_api: MessagingApi
) -> None:
    messaging_api.validate_push(ValidateMessageRequest(messages=[TextMessage(text="ok")]))
    too_long = {"messages": [{"type": "text", "text": "x" * 5001}]}
    assert raw_post(http, "/v2/bot/message/validate/push", too_long).status_code == 400
    assert line.state.inbox(friend.user_id) == []


def test_loading_animation_is_accepted_for_a_friend(
    friend: SandboxUser, messaging_api: MessagingApi
) -> None:
    request = ShowLoadingAnimationRequest(chat_id=friend.user_id, loading_seconds=10)
    assert messaging_api.show_loading_animation_with_http_info(request).status_code == 202


def test_invalid_query_parameter_is_a_line_400(
    line: SandboxServer, http: httpx.Client, channel: SandboxChannel
) -> None:
    response = http.get(
        "/v2/bot/followers/ids",
        params={"limit": 1001},
        headers={"authorization": f"Bearer {ACCESS_TOKEN}"},
    )
    assert response.status_code == 400
    assert response.json()["details"][0]["property"] == "limit"


def test_channels_are_isolated_from_each_other(
    line: SandboxServer, channel: SandboxChannel, friend: SandboxUser, messaging_api: MessagingApi
) -> None:
    other = line.state.add_channel("2000000009", "f" * 32, "other-token")
    line.state.set_rate_limit("pushMessage", 1)
    retry_key = str(uuid.uuid4())
    push_text(messaging_api, friend.user_id, retry_key=retry_key)
    configuration = Configuration(access_token=other.access_token, host=line.url)
    with ApiClient(configuration) as client:
        other_api = MessagingApi(client)
        with pytest.raises(ApiException) as raised:
            other_api.get_profile(friend.user_id)
        assert raised.value.status == 404
        line.simulate.follow(friend.user_id, channel_id=other.channel_id)
        assert push_text(other_api, friend.user_id, retry_key=retry_key).status_code == 200
    assert len(line.state.inbox(friend.user_id, channel_id=other.channel_id)) == 1
    assert len(line.state.inbox(friend.user_id, channel_id=channel.channel_id)) == 1
