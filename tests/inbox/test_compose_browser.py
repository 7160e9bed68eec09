"""The composer and presence in a browser: staff on a phone send a picture and the friend's
LINE app shows the same bytes; a file that only poses as a picture is explained in Japanese and
nothing is sent; two staff on two hub processes each see the other on the conversation, and
see them typing, and see them leave."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from api.app import create_app
from console import app as console_app
from core.db import Database
from core.serving import ThreadedServer
from core.tenancy import Shop
from sandbox.line.server import SandboxServer
from staff.models import Role
from tests.console.support import add_staff
from tests.console.test_browser import AXE, Screen
from tests.factories import ChannelSetup
from tests.inbox.images import GIF, picture
from tests.inbox.support import conversation_id_of
from tests.messaging.support import add_followers, open_all_hours
from tests.waiting import wait_for
from tsunagu.hub import Hub


@pytest.fixture
def other_hub(hub: Hub) -> Iterator[str]:
    """A second hub process: its own app, engine and signal watcher, the same database."""
    database = Database(hub.settings.resolved_database_url)
    app = create_app(hub.settings, database)
    console_app.install(app, hub.settings, database)
    server = ThreadedServer(app).start()
    try:
        yield server.url
    finally:
        server.stop()
        database.dispose()


def _accessibility_problems(screen: Screen) -> list[str]:
    screen.page.add_script_tag(path=AXE)
    found = screen.page.evaluate("async () => (await axe.run()).violations")
    return [f"{v['id']} ({v['impact']})" for v in found if v["impact"] in ("serious", "critical")]


def _talking_friend(
    db: Database, line_sandbox: SandboxServer, channel: ChannelSetup, text: str
) -> tuple[str, int]:
    open_all_hours(db, channel)
    ((friend_id, user_id),) = add_followers(db, line_sandbox.state, channel, 1).items()
    line_sandbox.simulate.send_text(user_id, text, channel_id=channel.channel_id)
    return user_id, wait_for(lambda: conversation_id_of(db, friend_id), what="the conversation")


@pytest.mark.parametrize("viewport", ["phone", "desktop"])
def test_staff_send_a_picture_and_the_friends_app_shows_the_same_bytes(
    viewport: str,
    chromium: Any,
    hub: Hub,
    db: Database,
    line_sandbox: SandboxServer,
    shop: Shop,
    channel: ChannelSetup,
) -> None:
    from playwright.sync_api import expect

    user_id, conversation = _talking_friend(db, line_sandbox, channel, "店内の写真はありますか")
    add_staff(db, shop, "aoi@example.jp", Role.OPERATOR)
    screen = Screen(chromium, hub.settings.public_url, viewport, bypass_csp=True)
    screen.sign_in("aoi@example.jp")
    page = screen.page
    page.goto(f"/console/inbox/conversations/{conversation}")

    page.set_input_files(
        "#reply-image", files=[{"name": "photo.jpg", "mimeType": "image/jpeg", "buffer": GIF}]
    )
    page.click("#image-form button[type=submit]")
    expect(page.locator("#image-error")).to_contain_text("JPEG と PNG だけです")
    screen.shot("inbox-image-refused")
    assert line_sandbox.state.inbox(user_id) == []

    photo = picture(960, 720, kind="JPEG")
    page.set_input_files(
        "#reply-image", files=[{"name": "店内.jpg", "mimeType": "image/jpeg", "buffer": photo}]
    )
    page.click("#image-form button[type=submit]")
    page.wait_for_url("**sent=free**")
    wait_for(lambda: len(line_sandbox.state.inbox(user_id)) == 1, what="the image message")
    (received,) = line_sandbox.state.inbox(user_id)
    shown = httpx.get(
        f"{line_sandbox.url}/sandbox/users/{user_id}/messages/{received.message_id}/image",
        timeout=10,
    )

    assert received.message["type"] == "image" and shown.content == photo
    sent_image = page.locator(".timeline img.media").last
    expect(sent_image).to_be_visible()
    assert page.evaluate("img => img.naturalWidth", sent_image.element_handle()) == 480
    screen.shot("inbox-image-sent")
    assert _accessibility_problems(screen) == []
    # The refused upload answered 415, which the browser logs; nothing else failed.
    assert [e for e in screen.errors if "415" not in e] == []
    screen.close()


def test_two_staff_on_two_hub_processes_see_each_other_typing_and_leaving(
    chromium: Any,
    hub: Hub,
    other_hub: str,
    db: Database,
    line_sandbox: SandboxServer,
    shop: Shop,
    channel: ChannelSetup,
) -> None:
    from playwright.sync_api import expect

    _user_id, conversation = _talking_friend(db, line_sandbox, channel, "駐車場はありますか")
    add_staff(db, shop, "aoi@example.jp", Role.OPERATOR)
    add_staff(db, shop, "ren@example.jp", Role.OPERATOR)
    aoi = Screen(chromium, hub.settings.public_url, "phone")
    ren = Screen(chromium, other_hub, "desktop")
    for screen, email in ((aoi, "aoi@example.jp"), (ren, "ren@example.jp")):
        screen.sign_in(email)
        screen.page.goto(f"/console/inbox/conversations/{conversation}")

    expect(aoi.page.locator("#presence")).to_contain_text("ren@example.jp さんがこの会話を表示中")
    expect(ren.page.locator("#presence")).to_contain_text("aoi@example.jp さんがこの会話を表示中")

    ren.page.locator("#reply-text").press_sequentially("あります。", delay=50)
    expect(aoi.page.locator("#presence")).to_contain_text("ren@example.jp さんが返信を入力中")
    aoi.shot("inbox-presence")
    ren.shot("inbox-presence")

    ren.page.goto("/console/inbox")
    expect(aoi.page.locator("#presence")).to_be_empty()
    assert aoi.errors == [] and ren.errors == []
    aoi.close()
    ren.close()
