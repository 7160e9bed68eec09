"""Chart actions in the console: a 1:1 text sent once per form (free or counted shown), a
blocked friend refused, a viewer kept out, a sequence enrolment."""

from __future__ import annotations

import re
from datetime import timedelta

from sqlalchemy import select

from core.audit import AuditLog
from core.clock import utcnow
from core.db import Database
from core.tenancy import Shop
from idlink.models import Friend
from messaging.outbox.models import Delivery
from sandbox.line.server import SandboxServer
from staff.models import Role
from tests.api.admin_support import add_link, add_member
from tests.console.support import Browser, add_staff, csrf_of
from tests.factories import ChannelSetup
from tests.messaging import people
from tests.messaging.support import add_followers, open_all_hours, wait_until_states

KEY = re.compile(r'name="key" value="([^"]+)"')


def signed_in(db: Database, hub_url: str, shop: Shop, role: Role) -> Browser:
    add_staff(db, shop, f"{role.value}@example.jp", role)
    browser = Browser(hub_url)
    assert browser.sign_in(f"{role.value}@example.jp").status_code == 303
    return browser


def test_a_double_clicked_message_is_sent_once_as_a_counted_push(
    db: Database, hub_url: str, line_sandbox: SandboxServer, shop: Shop, channel: ChannelSetup
) -> None:
    open_all_hours(db, channel)
    ((friend_id, user_id),) = add_followers(db, line_sandbox.state, channel, 1).items()
    browser = signed_in(db, hub_url, shop, Role.OPERATOR)
    chart = f"/console/friends/{friend_id}"
    page = browser.get(chart)
    form = {
        "csrf_token": csrf_of(page.text),
        "key": KEY.findall(page.text)[0],
        "text": "お待ちしています",
    }
    htmx = {"hx-request": "true", "hx-target": "message"}

    first = browser.post(f"{chart}/messages", form, headers=htmx)
    second = browser.post(f"{chart}/messages", form, headers=htmx)
    wait_until_states(db, {"sent": 1}, source="staff:operator@example.jp")

    assert "カウント対象: プッシュメッセージ" in page.text
    assert "プッシュメッセージとして送りました" in first.text
    assert "送信済みです" in second.text
    assert KEY.findall(first.text)[0] != form["key"]
    with db.session_scope() as session:
        sent = session.scalars(select(Delivery).where(Delivery.friend_id == friend_id)).all()
    assert [(d.source, d.state) for d in sent] == [("staff:operator@example.jp", "sent")]
    assert [m.message["text"] for m in line_sandbox.state.inbox(user_id)] == ["お待ちしています"]
    assert "1:1メッセージを送信" in browser.get(chart).text


def test_a_blocked_friend_has_no_message_form_and_a_viewer_may_not_send(
    db: Database, hub_url: str, line_sandbox: SandboxServer, shop: Shop, channel: ChannelSetup
) -> None:
    ids = list(add_followers(db, line_sandbox.state, channel, 2))
    with db.session_scope() as session:
        session.get_one(Friend, ids[0]).status = "blocked"
    operator = signed_in(db, hub_url, shop, Role.OPERATOR)
    viewer = signed_in(db, hub_url, shop, Role.VIEWER)

    blocked = operator.get(f"/console/friends/{ids[0]}")
    forced = operator.submit(
        f"/console/friends/{ids[1]}",
        f"/console/friends/{ids[0]}/messages",
        {"key": "forced-0001", "text": "x"},
    )
    as_viewer = viewer.submit(
        f"/console/friends/{ids[1]}",
        f"/console/friends/{ids[1]}/messages",
        {"key": "viewer-0001", "text": "x"},
    )

    assert "ブロックしているため、メッセージを送れません" in blocked.text
    assert 'name="key"' not in blocked.text
    assert forced.status_code == 409
    assert as_viewer.status_code == 403
    with db.session_scope() as session:
        assert session.scalars(select(Delivery)).all() == []


def test_an_operator_sends_the_account_link_and_the_chart_sums_up_the_member(
    db: Database, hub_url: str, line_sandbox: SandboxServer, shop: Shop, channel: ChannelSetup
) -> None:
    (friend_id, user_id), (linked_id, _) = add_followers(db, line_sandbox.state, channel, 2).items()
    member_id = add_member(db, shop.id, "M-2001", name="山田 桜")
    add_link(db, shop.id, linked_id, member_id)
    now = utcnow()
    people.purchase(db, shop.id, member_id, total=5500, ordered_at=now - timedelta(days=9))
    people.purchase(db, shop.id, member_id, total=3300, ordered_at=now - timedelta(days=2))
    people.purchase(db, shop.id, member_id, total=9900, ordered_at=now, cancelled=True)
    people.booking(db, shop.id, member_id, start_at=now + timedelta(days=3), service="カット")
    people.booking(
        db,
        shop.id,
        member_id,
        start_at=now + timedelta(days=4),
        service="パーマ",
        status="cancelled",
    )
    browser = signed_in(db, hub_url, shop, Role.OPERATOR)

    sent = browser.submit(
        f"/console/friends/{friend_id}", f"/console/friends/{friend_id}/account-link", {}
    )
    linked_chart = browser.get(f"/console/friends/{linked_id}").text
    summed = linked_chart.split('<section class="card summary">')[1].split("</section>")[0]

    assert sent.status_code == 303
    chart = browser.get(sent.headers["location"]).text
    assert "会員連携のリンクを LINE で送りました。" in chart
    (message,) = line_sandbox.state.inbox(user_id)
    assert "会員証とこのLINEアカウントを連携するには" in message.message["text"]
    with db.session_scope() as session:
        started = session.scalars(
            select(AuditLog).where(AuditLog.action == "idlink.account_link_started")
        ).one()
    assert started.actor == "staff:operator@example.jp"
    assert "2 件 · 8,800 JPY" in summed
    assert "カット" in summed and "パーマ" not in summed
    assert "会員連携のリンクを送る" not in linked_chart  # linked already
