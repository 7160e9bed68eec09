"""Sending through the LINE SDK: what LINE (the sandbox) receives, once per retry key."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from connectors.line.sending import LineSender
from core.db import Database
from sandbox.line.server import SandboxServer
from tests.factories import ChannelSetup
from tests.messaging.support import add_followers, received_counts, sender_for

REMINDER = [
    {
        "type": "text",
        "text": "明日 10:00 のご予約をお待ちしております",
        "quickReply": {
            "items": [
                {
                    "type": "action",
                    "action": {"type": "message", "label": "変更する", "text": "変更"},
                }
            ]
        },
    }
]
BROKEN = [{"type": "template", "altText": "menu", "template": {"type": "nonsense"}}]


@pytest.fixture
def sender(line_sandbox: SandboxServer, channel: ChannelSetup) -> Iterator[LineSender]:
    sender = sender_for(line_sandbox, channel)
    yield sender
    sender.close()


def received(
    sandbox: SandboxServer, channel: ChannelSetup
) -> list[tuple[str, dict[str, Any], str | None]]:
    with sandbox.state.lock:
        return [
            (m.user_id, m.message, m.aggregation_unit)
            for m in sandbox.state.received
            if m.channel_id == channel.channel_id
        ]


def test_pushes_of_one_content_reach_each_recipient_whole_with_their_unit(
    db: Database, line_sandbox: SandboxServer, channel: ChannelSetup, sender: LineSender
) -> None:
    users = list(add_followers(db, line_sandbox.state, channel, 3).values())

    for user in users:
        sender.push(
            user,
            REMINDER,
            retry_key=str(uuid.uuid4()),
            aggregation_unit="reminder",
            content_key="reminder-content",
        )

    sent = received(line_sandbox, channel)
    assert [user for user, _, _ in sent] == users
    assert all(message == REMINDER[0] for _, message, _ in sent)
    assert {unit for _, _, unit in sent} == {"reminder"}


def test_a_content_the_sdk_refuses_is_refused_on_every_send_and_never_reaches_line(
    db: Database, line_sandbox: SandboxServer, channel: ChannelSetup, sender: LineSender
) -> None:
    users = list(add_followers(db, line_sandbox.state, channel, 2).values())

    for user in users:
        with pytest.raises(ValueError):
            sender.push(user, BROKEN, retry_key=str(uuid.uuid4()), content_key="broken")
    with pytest.raises(ValueError):
        sender.multicast(users, BROKEN, retry_key=str(uuid.uuid4()), content_key="broken")

    assert received_counts(line_sandbox.state, channel) == {}


def test_a_resent_retry_key_is_accepted_with_the_first_request_id_and_delivered_once(
    db: Database, line_sandbox: SandboxServer, channel: ChannelSetup, sender: LineSender
) -> None:
    (user,) = add_followers(db, line_sandbox.state, channel, 1).values()
    key = str(uuid.uuid4())

    first = sender.push(user, REMINDER, retry_key=key, content_key="reminder-content")
    again = sender.push(user, REMINDER, retry_key=key, content_key="reminder-content")

    assert (first.status, first.duplicate) == (200, False)
    assert (again.status, again.duplicate, again.request_id) == (409, True, first.request_id)
    assert received_counts(line_sandbox.state, channel) == {user: 1}


def test_multicasts_of_one_content_reach_every_recipient_of_each(
    db: Database, line_sandbox: SandboxServer, channel: ChannelSetup, sender: LineSender
) -> None:
    users = list(add_followers(db, line_sandbox.state, channel, 5).values())

    sender.multicast(users[:2], REMINDER, retry_key=str(uuid.uuid4()), content_key="shared")
    sender.multicast(users[2:], REMINDER, retry_key=str(uuid.uuid4()), content_key="shared")

    assert received_counts(line_sandbox.state, channel) == dict.fromkeys(users, 1)
    assert all(message == REMINDER[0] for _, message, _ in received(line_sandbox, channel))


def test_personalised_pushes_of_one_shape_each_carry_their_own_text(
    db: Database, line_sandbox: SandboxServer, channel: ChannelSetup, sender: LineSender
) -> None:
    users = list(add_followers(db, line_sandbox.state, channel, 3).values())
    texts = {user: f"{REMINDER[0]['text']} (予約番号 B{n:07d})" for n, user in enumerate(users)}

    for n, user in enumerate(users):
        personal = [{**REMINDER[0], "text": texts[user]}]
        sender.push(user, personal, retry_key=str(uuid.uuid4()), content_key=f"reminder-{n}")

    sent = received(line_sandbox, channel)
    assert {user: message["text"] for user, message, _ in sent} == texts
    assert all(message["quickReply"] == REMINDER[0]["quickReply"] for _, message, _ in sent)


@pytest.mark.parametrize(
    "refused",
    [
        {"type": "text", "text": 12345},
        {"type": "text", "text": "明日のご予約", "quickReply": {"items": "nonsense"}},
        {"type": "text", "text": "明日のご予約", "sender": {"iconUrl": ["not", "a", "url"]}},
    ],
)
def test_a_personalised_push_unlike_those_checked_before_is_checked_on_its_own(
    db: Database,
    line_sandbox: SandboxServer,
    channel: ChannelSetup,
    sender: LineSender,
    refused: dict[str, object],
) -> None:
    first, second = add_followers(db, line_sandbox.state, channel, 2).values()
    sender.push(first, [{"type": "text", "text": "明日のご予約"}], retry_key=str(uuid.uuid4()))

    with pytest.raises(ValueError):
        sender.push(second, [refused], retry_key=str(uuid.uuid4()))

    assert received_counts(line_sandbox.state, channel) == {first: 1}
