"""LINE carries out a staff reply but its answer is lost (500): the outbox tries again and the
friend still gets each message once, as a free reply and as a push with its retry key, while the
console shows each sent once."""

from __future__ import annotations

import json
from functools import partial
from typing import Any

from sqlalchemy import select

from core.db import Database
from core.tenancy import Shop
from messaging.outbox.models import Delivery, DeliveryState
from sandbox.line.server import SandboxServer
from staff.models import Role
from tests.console.support import add_staff
from tests.console.test_browser import Screen
from tests.factories import ChannelSetup
from tests.inbox.support import conversation_id_of
from tests.messaging.support import add_followers, open_all_hours
from tests.waiting import wait_for


def _states(db: Database) -> list[DeliveryState]:
    with db.session_scope() as session:
        return list(session.scalars(select(Delivery.state).order_by(Delivery.id)))


def _calls(line_sandbox: SandboxServer, endpoint: str, text: str) -> list[tuple[int, str | None]]:
    """The sandbox's log of the ``endpoint`` calls that sent ``text``: status and retry key."""
    return [
        (call.status_code, call.request_headers.get("x-line-retry-key"))
        for call in line_sandbox.state.api_calls()
        if call.path == f"/v2/bot/message/{endpoint}"
        and text in json.dumps(call.request_json(), ensure_ascii=False)
    ]


def test_a_staff_reply_whose_answer_is_lost_reaches_the_friend_once(
    chromium: Any,
    hub_url: str,
    db: Database,
    line_sandbox: SandboxServer,
    shop: Shop,
    channel: ChannelSetup,
) -> None:
    from playwright.sync_api import expect

    open_all_hours(db, channel)
    ((friend_id, user_id),) = add_followers(db, line_sandbox.state, channel, 1).items()
    add_staff(db, shop, "aoi@example.jp", Role.OPERATOR)
    line_sandbox.simulate.send_text(user_id, "在庫はありますか", channel_id=channel.channel_id)
    conversation = wait_for(lambda: conversation_id_of(db, friend_id), what="the conversation")
    screen = Screen(chromium, hub_url, "phone")
    screen.sign_in("aoi@example.jp")
    page = screen.page
    page.goto(f"/console/inbox/conversations/{conversation}")
    expect(page.locator(".timeline")).to_contain_text("在庫はありますか")

    # The free reply: LINE uses the token, the answer is lost; the retry finds the token spent.
    line_sandbox.state.lose_answers("replyMessage")
    page.fill("#reply-text", "はい、ございます")
    page.click("#composer button >> text=送信")
    page.wait_for_url("**sent=free**")
    wait_for(lambda: _states(db) == [DeliveryState.SENT], what="the reply counted as sent")

    # A follow-up has no token left: a push, whose retry carries the same X-Line-Retry-Key.
    line_sandbox.state.lose_answers("pushMessage")
    page.fill("#reply-text", "お取り置きもできます")
    page.click("#composer button >> text=送信")
    page.wait_for_url("**sent=push**")
    wait_for(lambda: _states(db) == [DeliveryState.SENT] * 2, what="the push sent")

    received = [m.message["text"] for m in line_sandbox.state.inbox(user_id)]
    assert received == ["はい、ございます", "お取り置きもできます"]
    # A call is logged once its answer is out: the last one may still be on its way to the log.
    pushes = partial(_calls, line_sandbox, "push", "お取り置きもできます")
    wait_for(lambda: len(pushes()) == 2, what="both pushes logged")
    replies = _calls(line_sandbox, "reply", "はい、ございます")
    assert [status for status, _ in replies] == [500, 400]
    (lost, lost_key), (retried, retried_key) = pushes()
    assert (lost, retried) == (500, 409)
    assert lost_key is not None and retried_key == lost_key

    page.goto(f"/console/inbox/conversations/{conversation}")
    staff_replies = page.locator(".timeline .bubble.delivery")
    expect(staff_replies).to_have_count(2)
    assert staff_replies.locator(".text").all_inner_texts() == [
        "はい、ございます",
        "お取り置きもできます",
    ]
    assert staff_replies.locator(".state").count() == 0  # both sent: no pending or failed state
    screen.shot("inbox-lost-answers")
    assert screen.errors == []
    screen.close()
