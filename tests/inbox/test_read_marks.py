"""Opening a conversation marks it read; on a channel that reads manually, LINE is told with the
token of the friend's newest message (POST /v2/bot/chat/markAsRead), once."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from connectors.errors import FatalError
from connectors.line.client import ChannelCredentials, LineClient
from core.db import Database
from core.tenancy import Shop
from sandbox.line.server import SandboxServer
from tests.api.admin_support import admin_api
from tests.factories import ChannelSetup
from tests.inbox.support import conversation_id_of
from tests.messaging.support import add_followers
from tests.waiting import wait_for
from tsunagu.hub import Hub


@pytest.fixture
def reads_manually(line_sandbox: SandboxServer, channel: ChannelSetup) -> Iterator[None]:
    """The sandbox account marks messages read by API for this test (LINE's manual mode)."""
    line_channel = line_sandbox.state.channel(channel.channel_id)
    with line_sandbox.state.lock:
        line_channel.mark_as_read_mode = "manual"
    yield
    with line_sandbox.state.lock:
        line_channel.mark_as_read_mode = "auto"


@pytest.mark.usefixtures("reads_manually")
def test_opening_a_conversation_of_a_channel_that_reads_manually_tells_line(
    db: Database, hub: Hub, line_sandbox: SandboxServer, shop: Shop, channel: ChannelSetup
) -> None:
    ((friend_id, user_id),) = add_followers(db, line_sandbox.state, channel, 1).items()
    api = admin_api(db, hub.settings.public_url, shop)
    set_up = api.put(f"/inbox/channels/{channel.channel_id}", {"read_manually": True})
    line_sandbox.simulate.send_text(user_id, "こんにちは", channel_id=channel.channel_id)
    conversation = wait_for(lambda: conversation_id_of(db, friend_id), what="the conversation")
    unread = api.get(f"/conversations/{conversation}").json()["conversation"]["unread"]

    opened = api.post(f"/conversations/{conversation}/read", {})
    line_channel = line_sandbox.state.channel(channel.channel_id)
    wait_for(lambda: line_channel.read_marks == [user_id], what="LINE told it was read")
    again = api.post(f"/conversations/{conversation}/read", {})

    assert set_up.status_code == 200, set_up.text
    assert unread is True
    assert opened.status_code == 200 and opened.json()["unread"] is False
    assert again.status_code == 200
    assert line_channel.read_marks == [user_id]  # the token was used once: nothing kept


def test_a_channel_that_reads_automatically_is_not_sent_read_marks(
    db: Database, hub: Hub, line_sandbox: SandboxServer, shop: Shop, channel: ChannelSetup
) -> None:
    ((friend_id, user_id),) = add_followers(db, line_sandbox.state, channel, 1).items()
    api = admin_api(db, hub.settings.public_url, shop)
    line_sandbox.simulate.send_text(user_id, "こんにちは", channel_id=channel.channel_id)
    conversation = wait_for(lambda: conversation_id_of(db, friend_id), what="the conversation")

    opened = api.post(f"/conversations/{conversation}/read", {})

    assert opened.json()["unread"] is False
    changes = api.get("/audit", action="channel.read_mode_set").json()["items"]
    assert changes == []
    assert line_sandbox.state.channel(channel.channel_id).read_marks == []


def test_the_sandbox_refuses_a_read_token_it_never_gave(
    line_sandbox: SandboxServer, channel: ChannelSetup
) -> None:
    client = LineClient(
        ChannelCredentials(access_token=channel.access_token, api_url=line_sandbox.url)
    )

    with pytest.raises(FatalError, match="400"):
        client.mark_as_read("not-a-token-line-gave")


@pytest.mark.usefixtures("reads_manually")
def test_a_photo_as_the_newest_message_is_read_with_its_own_token(
    db: Database, hub: Hub, line_sandbox: SandboxServer, shop: Shop, channel: ChannelSetup
) -> None:
    ((friend_id, user_id),) = add_followers(db, line_sandbox.state, channel, 1).items()
    api = admin_api(db, hub.settings.public_url, shop)
    api.put(f"/inbox/channels/{channel.channel_id}", {"read_manually": True})
    line_sandbox.simulate.send_text(user_id, "写真を送ります", channel_id=channel.channel_id)
    photo = line_sandbox.simulate.send_media(user_id, "image", channel_id=channel.channel_id)
    conversation = wait_for(lambda: conversation_id_of(db, friend_id), what="the conversation")
    wait_for(
        lambda: len(api.get(f"/conversations/{conversation}").json()["timeline"]) >= 2,
        what="both messages in the timeline",
    )

    opened = api.post(f"/conversations/{conversation}/read", {})
    line_channel = line_sandbox.state.channel(channel.channel_id)

    assert opened.status_code == 200, opened.text
    wait_for(lambda: line_channel.read_marks == [user_id], what="LINE told it was read")
    photo_id = json.loads(photo.body)["events"][0]["message"]["id"]
    assert line_channel.read_up_to == {user_id: photo_id}  # the photo too, not only the text
