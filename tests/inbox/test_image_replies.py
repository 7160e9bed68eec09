"""Images staff send: the friend's app fetches the same bytes from the hub's unguessable
address, a second post of one reply sends nothing twice, and a file that is empty, too large,
not a JPEG or PNG (whatever it is called) or sent to a friend who blocked the channel is refused
with nothing kept and nothing sent."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import func, select

from core.db import Database
from core.tenancy import Shop
from idlink.media.models import Media
from sandbox.line.server import SandboxServer
from staff.models import Role
from tests.api.admin_support import AdminApi, admin_api
from tests.console.support import Browser, add_staff
from tests.factories import ChannelSetup
from tests.inbox.images import GIF, PDF, picture, size_of
from tests.messaging.support import add_followers, open_all_hours
from tests.waiting import wait_for
from tsunagu.hub import Hub


def _upload(
    api: AdminApi, conversation_id: int, data: bytes, *, key: str, name: str = "photo.jpg"
) -> httpx.Response:
    return httpx.post(
        f"{api.base_url}/conversations/{conversation_id}/images",
        headers=api.headers,
        data={"version": "0", "key": key},
        files={"image": (name, data, "image/jpeg")},
        timeout=30,
    )


def _conversation(api: AdminApi, friend_id: int) -> dict[str, Any]:
    return api.get(f"/friends/{friend_id}/conversation").json()


def _kept(db: Database, friend_id: int) -> int:
    with db.session_scope() as session:
        return (
            session.scalar(
                select(func.count()).select_from(Media).where(Media.friend_id == friend_id)
            )
            or 0
        )


def test_the_friends_app_shows_the_uploaded_image_and_its_smaller_preview(
    db: Database, hub: Hub, line_sandbox: SandboxServer, shop: Shop, channel: ChannelSetup
) -> None:
    open_all_hours(db, channel)
    ((friend_id, user_id),) = add_followers(db, line_sandbox.state, channel, 1).items()
    api = admin_api(db, hub.settings.public_url, shop)
    conversation_id = _conversation(api, friend_id)["id"]
    photo = picture(1200, 900)

    first = _upload(api, conversation_id, photo, key="image-aaaa", name="写真.png")
    again = _upload(api, conversation_id, photo, key="image-aaaa", name="写真.png")
    wait_for(lambda: len(line_sandbox.state.inbox(user_id)) == 1, what="the image message")
    (received,) = line_sandbox.state.inbox(user_id)
    opened = f"{line_sandbox.url}/sandbox/users/{user_id}/messages/{received.message_id}/image"
    original = httpx.get(opened, timeout=10)
    preview = httpx.get(opened, params={"which": "preview"}, timeout=10)

    assert first.status_code == 201, first.text
    assert again.status_code == 201 and again.json()["duplicate"] is True
    assert received.endpoint == "pushMessage" and received.message["type"] == "image"
    assert original.status_code == 200 and original.content == photo
    assert original.headers["content-type"] == "image/png"
    assert preview.headers["content-type"] == "image/jpeg" and size_of(preview.content) == (
        480,
        360,
    )
    assert _kept(db, friend_id) == 2
    timeline = api.get(f"/conversations/{conversation_id}").json()["timeline"]
    (shown,) = [i for i in timeline if i["kind"] == "delivery"]
    assert shown["message_type"] == "image" and shown["source"] == "api"
    assert received.message["previewImageUrl"].endswith(shown["image_path"])


def test_the_image_address_is_unguessable_and_lists_nothing(
    db: Database, hub: Hub, line_sandbox: SandboxServer, shop: Shop, channel: ChannelSetup
) -> None:
    ((friend_id, user_id),) = add_followers(db, line_sandbox.state, channel, 1).items()
    api = admin_api(db, hub.settings.public_url, shop)
    photo = picture(200, 100, kind="JPEG")
    sent = _upload(api, _conversation(api, friend_id)["id"], photo, key="image-bbbb")
    wait_for(lambda: len(line_sandbox.state.inbox(user_id)) == 1, what="the image message")
    url = line_sandbox.state.inbox(user_id)[0].message["originalContentUrl"]
    token = url.rsplit("/", 1)[1]
    base = hub.settings.public_url

    served = httpx.get(url, timeout=10)
    guessed = httpx.get(f"{base}/m/{token[:-1]}{'A' if token[-1] != 'A' else 'B'}", timeout=10)
    listing = httpx.get(f"{base}/m/", timeout=10)

    assert sent.status_code == 201, sent.text
    assert len(token) == 43 and served.content == photo
    assert served.headers["x-content-type-options"] == "nosniff"
    assert "set-cookie" not in served.headers
    assert guessed.status_code == 404 and listing.status_code == 404
    # A small image is its own preview: one copy kept.
    assert line_sandbox.state.inbox(user_id)[0].message["previewImageUrl"] == url
    assert _kept(db, friend_id) == 1


def test_bad_uploads_are_refused_and_nothing_is_kept_or_sent(
    db: Database, hub: Hub, line_sandbox: SandboxServer, shop: Shop, channel: ChannelSetup
) -> None:
    followers = add_followers(db, line_sandbox.state, channel, 2)
    (friend_id, user_id), (blocked_id, blocked_user) = followers.items()
    api = admin_api(db, hub.settings.public_url, shop)
    conversation_id = _conversation(api, friend_id)["id"]
    blocked_conversation = _conversation(api, blocked_id)["id"]
    line_sandbox.simulate.unfollow(blocked_user, channel_id=channel.channel_id)
    wait_for(
        lambda: api.get(f"/friends/{blocked_id}").json()["status"] == "blocked", what="the block"
    )
    limit = hub.settings.reply_image_max_bytes
    oversized = b"\xff\xd8\xff\xe0" + b"\0" * limit

    answers = {
        "empty": _upload(api, conversation_id, b"", key="bad-empty"),
        "oversized": _upload(api, conversation_id, oversized, key="bad-large"),
        "gif": _upload(api, conversation_id, GIF, key="bad-gif1"),
        "pdf": _upload(api, conversation_id, PDF, key="bad-pdf1"),
        "broken": _upload(api, conversation_id, b"\x89PNG\r\n\x1a\n" + b"x" * 99, key="bad-png1"),
        "blocked": _upload(api, blocked_conversation, picture(40, 30), key="bad-block"),
        "text": api.post(
            f"/conversations/{conversation_id}/replies",
            {"text": " \n ", "version": 0, "key": "bad-text"},
        ),
    }

    refused = {name: (r.status_code, r.json()["error"]) for name, r in answers.items()}
    assert refused == {
        "empty": (422, "EmptyImage"),
        "oversized": (413, "ImageTooLarge"),
        "gif": (415, "UnsupportedImage"),
        "pdf": (415, "UnsupportedImage"),
        "broken": (422, "BrokenImage"),
        "blocked": (409, "FriendNotReachable"),
        "text": (422, "ValidationFailed"),
    }
    assert "JPEG and PNG" in answers["gif"].json()["detail"]
    assert _kept(db, friend_id) == _kept(db, blocked_id) == 0
    assert _conversation(api, friend_id)["version"] == 0
    assert line_sandbox.state.inbox(user_id) == [] == line_sandbox.state.inbox(blocked_user)


def test_the_sandbox_refuses_an_image_address_line_would_not_take(
    line_sandbox: SandboxServer, channel: ChannelSetup
) -> None:
    def push(url: str) -> httpx.Response:
        return httpx.post(
            f"{line_sandbox.url}/v2/bot/message/push",
            headers={"Authorization": f"Bearer {channel.access_token}"},
            json={
                "to": "U" + "0" * 32,
                "messages": [{"type": "image", "originalContentUrl": url, "previewImageUrl": url}],
            },
            timeout=10,
        )

    plain = push("http://shop.example/a.jpg")
    long = push("https://shop.example/" + "a" * 2000)

    assert plain.status_code == 400
    assert plain.json()["details"][0]["property"] == "messages[0].originalContentUrl"
    assert long.status_code == 400 and "2000" in long.json()["details"][0]["message"]


def test_an_image_sent_in_the_console_after_someone_answered_is_asked_for_again(
    db: Database, hub: Hub, line_sandbox: SandboxServer, shop: Shop, channel: ChannelSetup
) -> None:
    open_all_hours(db, channel)
    ((friend_id, user_id),) = add_followers(db, line_sandbox.state, channel, 1).items()
    api = admin_api(db, hub.settings.public_url, shop)
    conversation_id = _conversation(api, friend_id)["id"]
    assert _upload(api, conversation_id, picture(), key="image-first").status_code == 201
    add_staff(db, shop, "aoi@example.jp", Role.OPERATOR)
    browser = Browser(hub.settings.public_url)
    browser.sign_in("aoi@example.jp")
    page = f"/console/inbox/conversations/{conversation_id}"

    stale = browser.submit(
        page,
        f"{page}/images",
        {"version": "0", "key": "image-second"},
        files={"image": ("photo.png", picture(), "image/png")},
    )

    assert stale.status_code == 409
    assert "もう一度画像を選ぶと" in stale.text and 'id="conflict-image"' in stale.text
    assert 'enctype="multipart/form-data"' in stale.text
    assert _kept(db, friend_id) == 2  # the first image and its preview: the second kept nothing
    wait_for(lambda: len(line_sandbox.state.inbox(user_id)) == 1, what="the first image")
