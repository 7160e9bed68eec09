"""An image a sandbox user sends appears on their chart in the console, on a phone and a
desktop, loaded through the console's own URL (the page's CSP allows nothing else)."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from core.db import Database
from core.tenancy import Shop
from idlink.media.models import Media, MediaState
from sandbox.line.contents import sample_png
from sandbox.line.server import SandboxServer
from staff.models import Role
from tests.console.support import PASSWORD, add_staff
from tests.console.test_browser import AXE, VIEWPORTS, Screen
from tests.factories import ChannelSetup
from tests.idlink.media_support import add_media
from tests.waiting import wait_for


@pytest.mark.parametrize("viewport", list(VIEWPORTS))
def test_an_image_a_friend_sends_appears_on_their_chart(
    chromium: Any,
    hub_url: str,
    db: Database,
    shop: Shop,
    line_sandbox: SandboxServer,
    channel: ChannelSetup,
    viewport: str,
) -> None:
    add_staff(db, shop, "aoi@example.jp", Role.VIEWER)
    user = line_sandbox.state.add_user(display_name="佐藤 花子")
    line_sandbox.simulate.follow(user.user_id, channel_id=channel.channel_id)
    line_sandbox.simulate.send_text(
        user.user_id, "この色はありますか", channel_id=channel.channel_id
    )
    sent = line_sandbox.simulate.send_media(
        user.user_id,
        "image",
        data=sample_png(640, 360, (200, 40, 90)),
        channel_id=channel.channel_id,
    )
    line_message_id = sent.events[0]["message"]["id"]

    def stored() -> Media | None:
        with db.session_scope() as session:
            media = session.scalar(select(Media).where(Media.line_message_id == line_message_id))
            return media if media is not None and media.state == MediaState.STORED else None

    media = wait_for(stored, what="the image kept")
    pdf = b"%PDF-1.7"
    add_media(db, media.friend_id, "file", data=pdf, content_type="application/pdf")
    add_media(db, media.friend_id, "video", state=MediaState.TOO_LARGE, size=90_000_000)
    add_media(db, media.friend_id, "audio", data=b"m4a", content_type="audio/x-m4a")
    screen = Screen(chromium, hub_url, viewport)
    screen.sign_in("aoi@example.jp")
    screen.page.goto(f"/console/friends/{media.friend_id}")

    image = screen.page.locator("img.media-image")
    # Loaded lazily: on a phone the timeline is below the fold until the staff member scrolls.
    image.scroll_into_view_if_needed()
    natural = screen.page.wait_for_function(
        "() => document.querySelector('img.media-image').naturalWidth"
    )
    assert natural.json_value() == 640
    assert image.get_attribute("alt") == "友だちが送った画像"
    screen.shot("chart-media")
    assert screen.errors == []
    screen.close()
    assert axe_problems(chromium, hub_url, viewport, f"/console/friends/{media.friend_id}") == []


def axe_problems(
    chromium: Any, hub_url: str, viewport: str, path: str, email: str = "aoi@example.jp"
) -> list[str]:
    """Serious or critical axe-core findings on a page (axe is injected, so CSP is bypassed)."""
    context = chromium.new_context(
        viewport=VIEWPORTS[viewport], base_url=hub_url, locale="ja-JP", bypass_csp=True
    )
    page = context.new_page()
    page.goto("/console/login")
    page.fill("#email", email)
    page.fill("#password", PASSWORD)
    page.click("form.stack button[type=submit]")
    page.wait_for_url("**/console/friends")
    page.goto(path)
    page.add_script_tag(path=AXE)
    found = page.evaluate("async () => (await axe.run()).violations")
    context.close()
    return [
        f"{v['id']} ({v['impact']}) at {[n['target'] for n in v['nodes']]}"
        for v in found
        if v["impact"] in ("serious", "critical")
    ]
