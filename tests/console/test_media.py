"""A friend's image, end to end: a sandbox user sends it, the hub fetches and keeps it, and
signed-in staff get the exact bytes (in the chart too); nobody else does."""

from __future__ import annotations

import base64
from typing import Any

import httpx
from sqlalchemy import select

from core.db import Database
from core.tenancy import Shop
from idlink.media.models import Media, MediaState
from idlink.models import Friend
from sandbox.line.server import SandboxServer
from staff.models import Role
from tests.api.admin_support import admin_api
from tests.console.support import Browser, add_staff
from tests.factories import ChannelSetup, make_channel, make_shop
from tests.idlink.media_support import JPEG
from tests.waiting import wait_for


def kept(db: Database, line_message_id: str, state: str = MediaState.STORED) -> Media | None:
    with db.session_scope() as session:
        media = session.scalar(select(Media).where(Media.line_message_id == line_message_id))
        if media is None or media.state != state:
            return None
        session.expunge(media)
        return media


def send(
    db: Database, line_sandbox: SandboxServer, channel: ChannelSetup, kind: str, **options: Any
) -> Media:
    """A sandbox user sends the channel a medium; the medium once the hub has kept it."""
    user = line_sandbox.state.add_user(display_name="佐藤 花子")
    line_sandbox.simulate.follow(user.user_id, channel_id=channel.channel_id)
    delivery = line_sandbox.simulate.send_media(
        user.user_id, kind, channel_id=channel.channel_id, **options
    )
    assert delivery.status_code == 200
    line_message_id = delivery.events[0]["message"]["id"]
    return wait_for(lambda: kept(db, line_message_id), what="the media kept")


def test_an_image_a_friend_sends_reaches_signed_in_staff_byte_for_byte(
    db: Database, hub_url: str, shop: Shop, line_sandbox: SandboxServer, channel: ChannelSetup
) -> None:
    add_staff(db, shop, "aoi@example.jp", Role.VIEWER)
    media = send(db, line_sandbox, channel, "image", data=JPEG, content_type="image/jpeg")
    path = f"/console/media/{media.message_id}"

    anonymous = Browser(hub_url).get(path)
    assert anonymous.status_code == 303
    assert anonymous.headers["location"].startswith("/console/login")
    assert anonymous.content != JPEG

    browser = Browser(hub_url)
    browser.sign_in("aoi@example.jp")
    served = browser.get(path)

    assert served.status_code == 200 and served.content == JPEG
    assert served.headers["content-type"] == "image/jpeg"
    assert served.headers["content-disposition"].startswith("inline; filename=")
    assert served.headers["x-content-type-options"] == "nosniff"
    assert "sandbox" in served.headers["content-security-policy"]
    assert served.headers["cache-control"] == "private, max-age=3600"
    again = browser.get(path, headers={"If-None-Match": served.headers["etag"]})
    assert again.status_code == 304 and again.content == b""

    head = browser.get(path, headers={"Range": "bytes=0-3"})
    assert head.status_code == 206 and head.content == JPEG[:4]
    assert head.headers["content-range"] == f"bytes 0-3/{len(JPEG)}"
    assert browser.get(path, headers={"Range": "bytes=-2"}).content == JPEG[-2:]
    past = browser.get(path, headers={"Range": f"bytes={len(JPEG)}-"})
    assert past.status_code == 416 and past.headers["content-range"] == f"bytes */{len(JPEG)}"

    chart = browser.get(f"/console/friends/{media.friend_id}")
    assert f'<img class="media-image" src="{path}"' in chart.text


def test_a_file_is_only_ever_a_download_that_runs_nothing(
    db: Database, hub_url: str, shop: Shop, line_sandbox: SandboxServer, channel: ChannelSetup
) -> None:
    add_staff(db, shop, "aoi@example.jp", Role.VIEWER)
    page = b"<html><script>alert(document.cookie)</script></html>"
    media = send(
        db,
        line_sandbox,
        channel,
        "file",
        data=page,
        content_type="text/html",
        file_name='注文"書".html',
    )
    browser = Browser(hub_url)
    browser.sign_in("aoi@example.jp")

    served = browser.get(f"/console/media/{media.message_id}")

    assert served.content == page
    disposition = served.headers["content-disposition"]
    assert disposition.startswith('attachment; filename="')
    assert "filename*=UTF-8''%E6%B3%A8%E6%96%87%22%E6%9B%B8%22.html" in disposition
    assert served.headers["x-content-type-options"] == "nosniff"
    assert served.headers["content-security-policy"].startswith("default-src 'none'")


def test_staff_of_another_shop_or_channel_get_nothing(
    db: Database, hub_url: str, shop: Shop, line_sandbox: SandboxServer, channel: ChannelSetup
) -> None:
    media = send(db, line_sandbox, channel, "image")
    other_shop = make_shop(db)
    add_staff(db, other_shop, "ren@example.jp", Role.OWNER)
    elsewhere = make_channel(db, line_sandbox, hub_url, shop)
    add_staff(db, shop, "mio@example.jp", Role.VIEWER, channel_ids=[elsewhere.channel_id])

    for email in ("ren@example.jp", "mio@example.jp"):
        browser = Browser(hub_url)
        browser.sign_in(email)
        assert browser.get(f"/console/media/{media.message_id}").status_code == 404, email


def test_the_admin_api_tells_the_state_and_serves_the_same_bytes(
    db: Database, hub_url: str, shop: Shop, line_sandbox: SandboxServer, channel: ChannelSetup
) -> None:
    api = admin_api(db, hub_url, shop)
    audio = b"\x00\x00\x00\x20ftypM4A "
    media = send(db, line_sandbox, channel, "audio", data=audio, duration_ms=1200)

    described = api.get(f"/media/{media.message_id}")
    content = api.get(f"/media/{media.message_id}/content")

    assert described.status_code == 200
    assert described.json()["state"] == "stored" and described.json()["kind"] == "audio"
    assert described.json()["size"] == len(audio)
    assert content.content == audio and content.headers["content-type"] == "audio/x-m4a"
    assert httpx.get(f"{api.base_url}/media/{media.message_id}/content").status_code == 401
    missing = api.get("/media/999999")
    assert missing.status_code == 404 and missing.json()["error"] == "MediaNotFound"


def test_media_without_content_says_why(
    db: Database, hub_url: str, shop: Shop, line_sandbox: SandboxServer, channel: ChannelSetup
) -> None:
    api = admin_api(db, hub_url, shop)
    user = line_sandbox.state.add_user()
    delivery = line_sandbox.simulate.send_media(
        user.user_id,
        "image",
        data=base64.b64decode("PHN2Zz48L3N2Zz4="),
        channel_id=channel.channel_id,
    )
    line_message_id = delivery.events[0]["message"]["id"]
    media = wait_for(lambda: kept(db, line_message_id, MediaState.REFUSED), what="refused")

    answer = api.get(f"/media/{media.message_id}/content")

    assert answer.status_code == 404
    assert answer.json()["error"] == "MediaContentMissing"
    assert "refused" in answer.json()["detail"]
    with db.session_scope() as session:
        friend = session.get_one(Friend, media.friend_id)
        assert friend.last_message_at is not None
