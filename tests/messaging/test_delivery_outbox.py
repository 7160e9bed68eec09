"""The outbox end to end: planned rows reach the sandbox's users once, whatever LINE answers."""

from __future__ import annotations

import pytest

from core.db import Database
from messaging.outbox.models import DeliveryState
from messaging.outbox.payloads import InvalidMessages
from sandbox.line.server import SandboxServer
from tests.factories import ChannelSetup
from tests.messaging.support import (
    TEXT,
    add_followers,
    api_calls,
    attempts,
    deliveries,
    open_all_hours,
    plan,
    received_counts,
    wait_until_states,
)
from tests.sandbox.line_specs import LineSpecs

SENT = DeliveryState.SENT


@pytest.fixture
def friends(db: Database, line_sandbox: SandboxServer, channel: ChannelSetup) -> dict[int, str]:
    open_all_hours(db, channel)
    return add_followers(db, line_sandbox.state, channel, 3)


def test_planned_message_reaches_every_friend_once_in_one_multicast(
    db: Database, line_sandbox: SandboxServer, channel: ChannelSetup, friends: dict[int, str]
) -> None:
    result = plan(db, channel, list(friends))

    assert result.planned == 3
    wait_until_states(db, {SENT: 3})
    assert received_counts(line_sandbox.state, channel) == dict.fromkeys(friends.values(), 1)
    (call,) = api_calls(line_sandbox, channel, "/v2/bot/message/multicast")
    assert sorted(call.request_json()["to"]) == sorted(friends.values())
    assert {d.request_id for d in deliveries(db)} == {call.request_id}


def test_a_trigger_planned_twice_sends_once(
    db: Database, line_sandbox: SandboxServer, channel: ChannelSetup, friends: dict[int, str]
) -> None:
    first = plan(db, channel, list(friends))
    second = plan(db, channel, list(friends))

    assert (first.planned, second.planned, second.duplicates) == (3, 0, 3)
    wait_until_states(db, {SENT: 3})
    assert received_counts(line_sandbox.state, channel) == dict.fromkeys(friends.values(), 1)


def test_personalised_messages_are_pushed_one_per_friend(
    db: Database, line_sandbox: SandboxServer, channel: ChannelSetup, friends: dict[int, str]
) -> None:
    plan(db, channel, list(friends), messages=lambda f: [{"type": "text", "text": f"No. {f}"}])

    wait_until_states(db, {SENT: 3})
    pushes = api_calls(line_sandbox, channel, "/v2/bot/message/push")
    assert sorted(c.request_json()["to"] for c in pushes) == sorted(friends.values())
    assert api_calls(line_sandbox, channel, "/v2/bot/message/multicast") == []
    for friend_id, user_id in friends.items():
        (message,) = line_sandbox.state.inbox(user_id)
        assert message.message["text"] == f"No. {friend_id}"


def test_requests_carry_a_retry_key_and_validate_against_lines_spec(
    db: Database,
    line_sandbox: SandboxServer,
    channel: ChannelSetup,
    friends: dict[int, str],
    line_specs: LineSpecs,
) -> None:
    first, *rest = list(friends)
    plan(db, channel, rest)
    plan(db, channel, [first], source="reminder:9", messages=[{"type": "text", "text": "明日"}])

    wait_until_states(db, {SENT: 2})
    wait_until_states(db, {SENT: 1}, source="reminder:9")
    (multicast,) = api_calls(line_sandbox, channel, "/v2/bot/message/multicast")
    (push,) = api_calls(line_sandbox, channel, "/v2/bot/message/push")
    line_specs.validate("messaging-api", "MulticastRequest", multicast.request_json())
    line_specs.validate("messaging-api", "PushMessageRequest", push.request_json())
    keys = {c.request_headers.get("x-line-retry-key") for c in (multicast, push)}
    assert None not in keys and len(keys) == 2


@pytest.mark.parametrize(
    ("messages", "problem"),
    [
        ([], "1 to 5 messages"),
        (TEXT * 6, "1 to 5 messages"),
        ([{"type": "text", "text": "🍣" * 2501}], "5002 UTF-16 units"),
        ([{"type": "image", "originalContentUrl": "https://x/y.png"}], "previewImageUrl"),
        ([{"type": "fax"}], "unknown message type"),
    ],
)
def test_messages_line_would_refuse_are_rejected_when_planned(
    db: Database, channel: ChannelSetup, friends: dict[int, str], messages, problem: str
) -> None:
    with pytest.raises(InvalidMessages, match=problem):
        plan(db, channel, list(friends), messages=messages)

    assert deliveries(db) == []


def test_a_text_of_exactly_5000_utf16_units_is_accepted(
    db: Database, line_sandbox: SandboxServer, channel: ChannelSetup, friends: dict[int, str]
) -> None:
    plan(db, channel, list(friends), messages=[{"type": "text", "text": "🍣" * 2500}])

    wait_until_states(db, {SENT: 3})
    assert sum(received_counts(line_sandbox.state, channel).values()) == 3


def test_multicast_is_split_into_requests_of_at_most_500(
    db: Database, line_sandbox: SandboxServer, channel: ChannelSetup
) -> None:
    open_all_hours(db, channel)
    friends = add_followers(db, line_sandbox.state, channel, 1203)

    plan(db, channel, list(friends))

    wait_until_states(db, {SENT: 1203})
    sizes = sorted(
        len(c.request_json()["to"])
        for c in api_calls(line_sandbox, channel, "/v2/bot/message/multicast")
    )
    assert sum(sizes) == 1203 and max(sizes) <= 500 and len(sizes) <= 5
    assert received_counts(line_sandbox.state, channel) == dict.fromkeys(friends.values(), 1)
    assert len(attempts(db)) == len(sizes)
