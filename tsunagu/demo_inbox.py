"""The demo's inbox: a friend asks with a photo and waits for staff, and a keyword gets its
auto-reply for free (sent with the message's reply token)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from sandbox.line.contents import sample_png
from tsunagu.demo_shop import wait

if TYPE_CHECKING:
    from tsunagu.demo import Demo

QUESTION = "この写真みたいな髪型にしたいです。"
KEYWORD_MESSAGE = "予約したいです"
BOOKING_ANSWER = "ご予約はメニューの「予約する」からどうぞ。24時間受け付けております。"


def kept_media(demo: Demo, user_id: str) -> list[dict[str, Any]]:
    """The media of the friend's messages that the hub has fetched and kept."""
    friend = next(f for f in demo.admin("/friends")["items"] if f["line_user_id"] == user_id)
    timeline = demo.admin(f"/friends/{friend['id']}/chart")["timeline"]["items"]
    return [e["media"] for e in timeline if e.get("media") and e["media"]["state"] == "stored"]


def replies_received(demo: Demo, user: str) -> list[tuple[str, str]]:
    """(endpoint, text) of what the shop sent one of the demo's users, oldest first."""
    inbox = demo.sandbox.state.inbox(demo.users[user])
    return [(m.endpoint, str(m.message.get("text", m.message.get("type")))) for m in inbox]


def ask_the_shop(demo: Demo, step: Callable[[str], None], *, channel_id: str) -> None:
    """Ichiro S. sends a photo and a question no rule answers, then the keyword 予約."""
    simulate, ichiro = demo.sandbox.simulate, demo.users["ichiro"]
    simulate.send_text(ichiro, QUESTION, channel_id=channel_id)
    simulate.send_media(
        ichiro, "image", data=sample_png(480, 320, (120, 72, 40)), channel_id=channel_id
    )
    wait(lambda: bool(kept_media(demo, ichiro)), "Ichiro's photo fetched from LINE")
    step(
        "Ichiro S. sent a photo and asked for that hairstyle: his conversation waits in the "
        "console's inbox (未対応), photo included"
    )
    simulate.send_text(ichiro, KEYWORD_MESSAGE, channel_id=channel_id)
    wait(
        lambda: ("replyMessage", BOOKING_ANSWER) in replies_received(demo, "ichiro"),
        "the booking auto-reply",
    )
    step(f"his 「{KEYWORD_MESSAGE}」 got the `booking` auto-reply, free with its reply token")
