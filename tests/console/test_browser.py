"""The console in a real browser, as staff use it on a phone (375 px) and a desktop (1280 px).

Playwright drives the Debian ``chromium`` package headless; nothing is downloaded. Screenshots
of every page visited go to ``test-artifacts/console/`` (``TSUNAGU_TEST_ARTIFACTS`` moves it),
to be looked at. Without chromium these tests skip, except in CI where they fail.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from config import Settings
from console.app import create_console
from core.clock import utcnow
from core.db import Database
from core.tenancy import Shop
from crm import fields
from crm.field_schemas import FieldDefinitionIn, FieldType
from growth import routes
from growth.forms import service as forms_service
from growth.forms.questions import Choice, Kind, Question
from growth.forms.schemas import FormIn
from growth.models import FollowRoute, RouteTouch, RouteVisit, TouchKind
from growth.schemas import RouteAction, RouteIn
from idlink import friends
from idlink.models import Friend, Tag
from inbox import conversations as inbox_conversations
from inbox import library
from inbox import notes as inbox_notes
from inbox.schemas import CannedIn, MarkIn, NoteIn
from messaging.compose import library as template_library
from messaging.compose.library import NamedTemplateIn
from messaging.friend_list import bulk as friend_bulk
from messaging.friend_list.bulk import BulkIn
from messaging.friend_list.filters import FriendFilters
from messaging.friend_list.models import BulkAction
from sandbox.line.contents import sample_png
from staff.models import Role
from tests.api.admin_support import add_friend, add_link, add_member
from tests.autoreply.support import PARKING_FAQ, add_faq, add_rule
from tests.commerce.coupon_support import offline_pool
from tests.console.support import PASSWORD, add_staff
from tests.factories import ChannelSetup
from tests.growth.tagrule_support import clicked_link_and_rule
from tests.idlink.media_support import add_media
from tests.messaging import people

VIEWPORTS = {"phone": {"width": 375, "height": 812}, "desktop": {"width": 1280, "height": 800}}
ARTIFACTS = Path(
    os.environ.get("TSUNAGU_TEST_ARTIFACTS", Path(__file__).resolve().parents[2] / "test-artifacts")
)


class Screen:
    """A signed-out browser page at one viewport, recording console errors and screenshots."""

    def __init__(self, chromium: Any, hub_url: str, viewport: str, *, axe: bool = False) -> None:
        # ``axe``: axe-core is injected by the test, so the pages bypass their CSP.
        self.context = chromium.new_context(
            viewport=VIEWPORTS[viewport], base_url=hub_url, locale="ja-JP", bypass_csp=axe
        )
        self.page = self.context.new_page()
        self.viewport = viewport
        self.errors: list[str] = []
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        (ARTIFACTS / "console").mkdir(parents=True, exist_ok=True)

    def shot(self, name: str) -> None:
        self.page.screenshot(
            path=ARTIFACTS / "console" / f"{name}-{self.viewport}.png", full_page=True
        )
        width = self.page.evaluate("document.documentElement.scrollWidth")
        assert width <= VIEWPORTS[self.viewport]["width"], f"{name} scrolls sideways: {width}px"

    def accessibility_problems(self) -> list[str]:
        return axe_problems(self.page)

    def sign_in(self, email: str) -> None:
        self.page.goto("/console/friends")
        self.page.fill("#email", email)
        self.page.fill("#password", PASSWORD)
        self.page.click("form.stack button[type=submit]")
        self.page.wait_for_url("**/console/friends")

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def shop_with_friends(db: Database, shop: Shop, channel: ChannelSetup) -> dict[str, int]:
    hanako = add_friend(
        db, channel.channel_pk, "U" + "1" * 32, display_name="佐藤 花子", tags=("VIP",)
    )
    add_friend(db, channel.channel_pk, "U" + "2" * 32, display_name="鈴木 一郎")
    add_friend(db, channel.channel_pk, "U" + "3" * 32, display_name="高橋 美咲", blocked=True)
    member_id = add_member(db, shop.id, "M-1001", name="佐藤 花子")
    add_link(db, shop.id, hanako, member_id)
    people.purchase(
        db, shop.id, member_id, total=5500, ordered_at=datetime(2026, 11, 20, 3, tzinfo=UTC)
    )
    people.booking(
        db,
        shop.id,
        member_id,
        start_at=datetime(2026, 12, 24, 5, tzinfo=UTC),
        service="カット&カラー ロング",
    )
    add_media(db, hanako, "image", data=sample_png(320, 180), content_type="image/png")
    add_media(
        db, hanako, "file", data=b"%PDF-1.7", content_type="application/pdf", file_name="見積書.pdf"
    )
    add_media(db, hanako, "video", state="too_large", size=90_000_000)
    add_staff(db, shop, "operator@example.jp", Role.OPERATOR)
    add_staff(db, shop, "viewer@example.jp", Role.VIEWER)
    return {"hanako": hanako}


@pytest.mark.parametrize("viewport", list(VIEWPORTS))
def test_an_operator_signs_in_finds_a_friend_tags_them_and_switches_to_english(
    chromium: Any, hub_url: str, shop_with_friends: dict[str, int], viewport: str
) -> None:
    from playwright.sync_api import expect

    screen = Screen(chromium, hub_url, viewport)
    page = screen.page
    page.goto("/console/friends")
    screen.shot("login")
    assert page.locator("h1").inner_text() == "管理画面にログイン"

    screen.sign_in("operator@example.jp")
    assert "3 人" in page.inner_text("#results .count")
    screen.shot("friends")

    page.fill("#q", "花子")
    expect(page.locator(".friend-row")).to_have_count(1)
    assert "1 人" in page.inner_text("#results .count")
    assert "q=" in page.url  # htmx pushed the search into the address
    screen.shot("friends-search")

    page.click(".friend-row")
    page.wait_for_url(f"**/console/friends/{shop_with_friends['hanako']}")
    assert page.locator("h1").inner_text() == "佐藤 花子"
    assert "M-1001" in page.inner_text(".member")
    assert "カット&カラー ロング" in page.inner_text(".timeline")
    screen.shot("chart")

    page.fill("#new-tag", "常連")
    page.click(".tag-add button")
    page.wait_for_selector("#tags .chip >> text=常連")
    assert page.locator("#new-tag").input_value() == ""  # the tags part was swapped in
    screen.shot("chart-tagged")

    page.fill("#new-note", "カラーは明るめが好み。\n次回はトリートメントを提案。")
    page.click(".note-add button")
    page.wait_for_selector("#notes .note-body >> text=カラーは明るめが好み")
    page.click("#notes .note-actions button >> text=ピン留め")
    page.wait_for_selector("#notes .note.pinned")
    screen.shot("chart-note")
    page.reload()
    assert "タグ追加: 常連" in page.inner_text(".timeline")
    screen.shot("chart-timeline")

    page.click("nav >> text=アカウント")
    page.select_option("#locale", "en")
    page.click("form.row button")
    page.wait_for_selector("h1 >> text=Account")
    screen.shot("account-english")
    page.click("nav >> text=Friends")
    assert page.locator("h1").inner_text() == "Friends"
    assert "3 friends" in page.inner_text("#results .count")

    assert screen.errors == []
    screen.close()


@pytest.mark.parametrize("viewport", list(VIEWPORTS))
def test_a_viewer_is_refused_an_operator_action_with_a_clear_page(
    chromium: Any, hub_url: str, shop_with_friends: dict[str, int], viewport: str
) -> None:
    screen = Screen(chromium, hub_url, viewport)
    page = screen.page
    screen.sign_in("viewer@example.jp")
    page.goto(f"/console/friends/{shop_with_friends['hanako']}")
    assert page.locator("#new-tag").count() == 0  # no tag form for a viewer
    assert "この権限では表示されません" in page.inner_text(".member")

    # What a viewer could still send by hand: the form the page would have, with its token.
    page.evaluate(
        """([action, token]) => {
            const form = document.createElement('form');
            form.method = 'post';
            form.action = action;
            for (const [name, value] of [['csrf_token', token], ['name', 'VIP2']]) {
                const input = document.createElement('input');
                input.type = 'hidden'; input.name = name; input.value = value;
                form.appendChild(input);
            }
            document.body.appendChild(form);
            form.submit();
        }""",
        [
            f"/console/friends/{shop_with_friends['hanako']}/tags",
            page.locator("input[name=csrf_token]").first.input_value(),
        ],
    )
    page.wait_for_selector("h1 >> text=権限がありません")
    assert "「オペレーター」以上の権限が必要です" in page.inner_text("main")
    screen.shot("forbidden")
    screen.close()


def _visited(session: Any, route: FollowRoute, friend_id: int) -> None:
    """A friend opened the route's URL two days running (the report's chart has two days)."""
    friend = session.get_one(Friend, friend_id)
    for day in (1, 2):
        at = datetime(2026, 12, day, 10, tzinfo=UTC)
        visit = RouteVisit(
            shop_id=route.shop_id,
            channel_id=route.channel_id,
            route_id=route.id,
            line_user_id=friend.line_user_id,
            friend_id=friend.id,
            visited_at=at,
        )
        session.add(visit)
        session.flush()
        session.add(
            RouteTouch(
                shop_id=route.shop_id,
                route_id=route.id,
                friend_id=friend.id,
                visit_id=visit.id,
                kind=TouchKind.RETURNING,
                at=at,
                outcome=["tag poster: added"],
            )
        )


AXE = Path(__file__).with_name("vendor") / "axe-4.14.1.min.js"


def axe_problems(page: Any) -> list[str]:
    """What axe-core finds serious or critical on the page as it stands (the page's context
    must bypass the CSP: axe-core is injected by the test)."""
    page.add_script_tag(path=AXE)
    found = page.evaluate("async () => (await axe.run()).violations")
    return [
        f"{page.url}: {v['id']} ({v['impact']}) at {[n['target'] for n in v['nodes']]}"
        for v in found
        if v["impact"] in ("serious", "critical")
    ]


# Console pages that are not HTML pages to look at: files, and steps that only redirect.
NOT_PAGES = {
    "/friends/export.csv",
    "/routes/{route_id}/report.csv",
    "/forms/{form_id}/submissions.csv",
    "/friends/{friend_id}/export",
    "/login/sso",
    "/login/sso/callback",
    "/password/{token}",
    "/login/code",
    "/account/totp",
    "/inbox/events",
    "/media/{message_id}",
}


def _console_pages(settings: Settings) -> set[str]:
    """Every GET route of the console: a new page is checked without being listed here."""
    found: set[str] = set()

    def walk(routes: list[Any]) -> None:
        for route in routes:
            if hasattr(route, "original_router"):
                walk(route.original_router.routes)
            elif "GET" in getattr(route, "methods", ()):
                found.add(route.path)

    walk(create_console(settings, Database("sqlite://")).routes)
    return found - NOT_PAGES


def _a_conversation(session: Session, shop: Shop, friend_id: int) -> int:
    """Hanako's conversation: a text and an image from her, a mark, a note and a canned reply."""
    friend = session.get_one(Friend, friend_id)
    for number, message in enumerate(
        ({"type": "text", "text": "予約の変更をお願いします"}, {"type": "image"}), start=1
    ):
        friends.record_message(
            session,
            friend=friend,
            direction="in",
            message={"id": f"browser-{number}", **message},
            occurred_at=utcnow(),
        )
    conversation = inbox_conversations.conversation_of(session, friend)
    inbox_conversations.note_incoming(session, conversation, at=utcnow())
    mark = library.add_mark(
        session, shop_id=shop.id, body=MarkIn(name="要確認", colour="red"), actor="test"
    )
    inbox_conversations.set_mark(session, conversation, mark_id=mark.id, actor="test")
    library.save_canned(
        session,
        shop_id=shop.id,
        body=CannedIn(code="hours", title="営業時間", body="{name}様、10時から19時です"),
        actor="test",
    )
    inbox_notes.add_note(
        session,
        conversation=conversation,
        body=NoteIn(body="@owner 確認お願いします"),
        author="test",
    )
    return conversation.id


@pytest.mark.parametrize("viewport", list(VIEWPORTS))
def test_no_page_has_a_serious_or_critical_accessibility_violation(
    chromium: Any,
    hub_url: str,
    db: Database,
    shop: Shop,
    channel: ChannelSetup,
    settings: Settings,
    shop_with_friends: dict[str, int],
    viewport: str,
) -> None:
    """Every console page, as an owner sees it (the role that sees most), at both widths:
    axe-core finds nothing serious or critical, and a screenshot of each is kept."""
    add_staff(db, shop, "owner@example.jp", Role.OWNER)
    with db.session_scope() as session:
        tag = session.scalars(select(Tag).where(Tag.name == "VIP")).one()
        fields.define(
            session,
            shop_id=shop.id,
            spec=FieldDefinitionIn(key="rank", label="ランク", type=FieldType.TEXT),
            actor="test",
        )
        job = friend_bulk.start(
            session,
            shop_id=shop.id,
            filters=FriendFilters(),
            body=BulkIn(action=BulkAction.ADD_TAG, tag="冬の案内"),
            actor="test",
        )
        conversation_id = _a_conversation(session, shop, shop_with_friends["hanako"])
        poster = routes.create_route(
            session,
            shop_id=shop.id,
            spec=RouteIn(name="駅のポスター", actions=[RouteAction(kind="tag", target="poster")]),
            actor="test",
        )
        _visited(session, poster, shop_with_friends["hanako"])
        ids = {
            "friend_id": shop_with_friends["hanako"],
            "tag_id": tag.id,
            "job_id": job.id,
            "conversation_id": conversation_id,
            "rule_id": add_rule(session, channel, schedule={"start": "10:00", "end": "19:00"}),
            "faq_id": add_faq(session, channel, PARKING_FAQ),
            "route_id": poster.id,
        }
        ids["link_id"], ids["tag_rule_id"] = clicked_link_and_rule(
            session, shop.id, shop_with_friends["hanako"]
        )
        ids["form_id"] = forms_service.create_form(
            session,
            shop_id=shop.id,
            spec=FormIn(
                name="来店前アンケート",
                title="ご来店前アンケート",
                questions=[
                    Question(kind=Kind.SHORT_TEXT, key="name", label="お名前", required=True),
                    Question(
                        kind=Kind.SINGLE,
                        key="hair",
                        label="髪の長さ",
                        choices=[Choice(label="ショート"), Choice(label="ロング")],
                    ),
                ],
            ),
            actor="test",
        ).id
        ids["template_id"] = template_library.save(
            session,
            shop_id=shop.id,
            body=NamedTemplateIn(
                name="メニュー案内",
                messages=[{"type": "text", "text": "{{ display_name }}様、メニューはこちらです"}],
            ),
            actor="test",
        ).id
    ids["pool_id"] = offline_pool(db, shop.id, given_to=[shop_with_friends["hanako"]])
    # axe-core (vendored, MPL-2.0) is injected by the test, so this page bypasses the CSP.
    context = chromium.new_context(
        viewport=VIEWPORTS[viewport], base_url=hub_url, locale="ja-JP", bypass_csp=True
    )
    page = context.new_page()
    (ARTIFACTS / "console" / "pages").mkdir(parents=True, exist_ok=True)

    def check(name: str) -> list[str]:
        page.screenshot(
            path=ARTIFACTS / "console" / "pages" / f"{name}-{viewport}.png", full_page=True
        )
        return axe_problems(page)

    problems = []
    page.goto("/console/login")
    problems += check("login")
    page.fill("#email", "owner@example.jp")
    page.fill("#password", PASSWORD)
    page.click("form.stack button[type=submit]")
    page.wait_for_url("**/console/friends")
    for route in sorted(_console_pages(settings)):
        response = page.goto("/console" + route.format(**ids))
        assert response is not None and response.status == 200, (route, response)
        problems += check(
            route.strip("/").replace("/", "_").replace("{", "").replace("}", "") or "home"
        )
    page.goto("/console/friends/999999")
    problems += check("not-found")
    context.close()

    assert problems == []
