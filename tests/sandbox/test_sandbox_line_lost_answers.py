"""A call LINE carried out whose answer was lost on the way back (the sandbox answers 500): the
message reached the user once, a retry with the same key gets 409, and the reply token is spent."""

from __future__ import annotations

import uuid

import httpx
import pytest
from linebot.v3.messaging import (
    ApiException,
    MessagingApi,
    PushMessageRequest,
    ReplyMessageRequest,
    TextMessage,
)

from sandbox.line.models import SandboxUser
from sandbox.line.server import SandboxServer
from tests.waiting import wait_for


def test_a_push_whose_answer_is_lost_was_delivered_and_its_retry_gets_409(
    line: SandboxServer, http: httpx.Client, friend: SandboxUser, messaging_api: MessagingApi
) -> None:
    assert http.post("/sandbox/lost-answers", json={"endpoint": "pushMessage"}).status_code == 204
    assert http.post("/sandbox/lost-answers", json={"endpoint": "x", "times": 0}).status_code == 422
    retry_key = str(uuid.uuid4())
    request = PushMessageRequest(to=friend.user_id, messages=[TextMessage(text="一度だけ")])

    with pytest.raises(ApiException) as lost:
        messaging_api.push_message(request, x_line_retry_key=retry_key)
    assert lost.value.status == 500
    assert "Internal server error" in lost.value.body
    assert [m.message["text"] for m in line.state.inbox(friend.user_id)] == ["一度だけ"]

    with pytest.raises(ApiException) as retried:
        messaging_api.push_message(request, x_line_retry_key=retry_key)
    assert retried.value.status == 409
    assert len(line.state.inbox(friend.user_id)) == 1
    # Only the one call was lost: the next push is answered as usual.
    follow_up = PushMessageRequest(to=friend.user_id, messages=[TextMessage(text="次")])
    assert messaging_api.push_message_with_http_info(follow_up).status_code == 200

    def statuses() -> list[int]:
        return [c.status_code for c in line.state.api_calls() if c.path.endswith("/push")]

    # A call is logged once its answer is out: the last one may still be on its way to the log.
    wait_for(lambda: len(statuses()) >= 3, what="the three pushes logged")
    assert statuses()[-3:] == [500, 409, 200]


def test_a_reply_whose_answer_is_lost_used_its_token(
    line: SandboxServer, friend: SandboxUser, messaging_api: MessagingApi
) -> None:
    line.state.lose_answers("replyMessage")
    token = line.simulate.send_text(friend.user_id, "hi").events[0]["replyToken"]
    request = ReplyMessageRequest(reply_token=token, messages=[TextMessage(text="hello!")])

    with pytest.raises(ApiException) as lost:
        messaging_api.reply_message(request)
    assert lost.value.status == 500
    with pytest.raises(ApiException) as again:
        messaging_api.reply_message(request)
    assert again.value.status == 400 and "Invalid reply token" in again.value.body
    assert [m.message["text"] for m in line.state.inbox(friend.user_id)] == ["hello!"]
