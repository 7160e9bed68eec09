"""Every console action against every role: allowed, or a 403 page naming the role needed.

The table below names every route of the console: one a role may be refused carries the action
``staff.permissions`` checks it against, so the expected outcome for each role comes from the
one table of minimum roles. A new console route fails the completeness test until it is added.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from config import Settings
from console import i18n
from console.app import create_console
from core.db import Database
from core.tenancy import Shop, create_token
from crm import fields, notes
from crm.field_schemas import FieldDefinitionIn, FieldType
from crm.notes import NoteIn
from growth import routes
from growth.forms import service as forms_service
from growth.forms.questions import Kind, Question
from growth.forms.schemas import FormIn
from growth.schemas import RouteIn
from growth.tagrules import rules as tag_rule_service
from growth.tagrules.schemas import TagRuleSpec
from idlink.models import Friend, Tag
from inbox import conversations as inbox_conversations
from inbox import library
from inbox.schemas import CannedIn, MarkIn
from messaging.compose import library as template_library
from messaging.compose import links
from messaging.compose.library import NamedTemplateIn
from messaging.compose.link_schemas import StandaloneLinkSpec
from messaging.friend_list import bulk as friend_bulk
from messaging.friend_list.bulk import BulkIn
from messaging.friend_list.filters import FriendFilters
from messaging.friend_list.models import BulkAction
from staff.models import Role, StaffSession
from staff.permissions import MINIMUM_ROLE, Action, allows
from tests.api.admin_support import add_friend
from tests.autoreply.support import PARKING_FAQ, add_faq, add_rule
from tests.commerce.coupon_support import offline_pool
from tests.console.support import Browser, add_staff
from tests.factories import ChannelSetup
from tests.inbox.images import picture


@dataclass(frozen=True, slots=True)
class Ids:
    email: str
    friend: int
    note: int
    token: int
    shop: int
    other_session: int
    tag: int
    spare_tag: int
    bulk_job: int
    conversation: int
    mark: int
    rule: int
    spare_rule: int
    faq: int
    spare_faq: int
    channel: str
    pool: int
    route: int
    tag_rule: int
    spare_tag_rule: int
    tracked_link: int
    form: int
    template: int
    spare_template: int


Call = Callable[[Browser, Ids], httpx.Response]


@dataclass(frozen=True, slots=True)
class Entry:
    """One console action: the permission it needs (None: any signed-in staff member, for
    their own account) and how a browser does it; ``ok`` are the answers that mean allowed."""

    action: Action | None
    call: Call
    ok: frozenset[int] = frozenset({200, 303})
    signs_out: bool = False


def _chart(ids: Ids) -> str:
    return f"/console/friends/{ids.friend}"


def _on_chart(path: str, data: dict[str, str]) -> Call:
    return lambda b, ids: b.submit(_chart(ids), f"{_chart(ids)}{path.format(ids=ids)}", data)


def _on_account(path: str, data: dict[str, str]) -> Call:
    return lambda b, ids: b.submit("/console/account", path, data)


def _conversation(ids: Ids) -> str:
    return f"/console/inbox/conversations/{ids.conversation}"


def _on_conversation(path: str, data: dict[str, str]) -> Call:
    return lambda b, ids: b.submit(_conversation(ids), f"{_conversation(ids)}{path}", data)


def _image_reply(b: Browser, ids: Ids) -> httpx.Response:
    meta = {"version": "0", "key": "matrix-image", "confirm": "true"}
    image = {"image": ("photo.png", picture(64, 48), "image/png")}
    return b.submit(_conversation(ids), f"{_conversation(ids)}/images", meta, files=image)


def _on_inbox(path: str, data: dict[str, str]) -> Call:
    return lambda b, ids: b.submit("/console/account", path.format(ids=ids), data)


def _rule_form(name: str) -> dict[str, str]:
    return {"name": name, "event": "link", "add": "member", "active": "on"}


def _link_form(name: str) -> dict[str, str]:
    return {"name": name, "url": "https://salon.example/menu"}


def _event_stream(browser: Browser, ids: Ids) -> httpx.Response:
    """Open the live stream and leave at once: its answer is all the matrix needs."""
    with browser.client.stream("GET", "/console/inbox/events") as response:
        return response


def _sign_in_again_and_out(browser: Browser, ids: Ids) -> httpx.Response:
    browser.sign_in(ids.email)
    return browser.submit("/console/account", "/console/logout", {})


RULE = {
    "name": "matrix",
    "match": "contains",
    "pattern": "予約",
    "reply_text": "ご予約はこちら",
    "enabled": "1",
}
FAQ = {
    "name": "matrix",
    "questions": "駐車場はありますか",
    "answer": "あります",
    "enabled": "1",
}

MATRIX: dict[tuple[str, str], Entry] = {
    ("GET", "/"): Entry(None, lambda b, ids: b.get("/console/")),
    ("GET", "/friends"): Entry(Action.READ_FRIENDS, lambda b, ids: b.get("/console/friends")),
    ("GET", "/friends/{friend_id}"): Entry(Action.READ_FRIENDS, lambda b, ids: b.get(_chart(ids))),
    ("POST", "/friends/{friend_id}/tags"): Entry(
        Action.TAG_FRIENDS, _on_chart("/tags", {"name": "new"})
    ),
    ("POST", "/friends/{friend_id}/tags/remove"): Entry(
        Action.TAG_FRIENDS, _on_chart("/tags/remove", {"name": "vip"})
    ),
    ("POST", "/friends/{friend_id}/notes"): Entry(
        Action.WRITE_NOTES, _on_chart("/notes", {"body": "a note"})
    ),
    ("POST", "/friends/{friend_id}/notes/{note_id}/edit"): Entry(
        Action.WRITE_NOTES, _on_chart("/notes/{ids.note}/edit", {"body": "edited"})
    ),
    ("POST", "/friends/{friend_id}/notes/{note_id}/pin"): Entry(
        Action.WRITE_NOTES, _on_chart("/notes/{ids.note}/pin", {"pinned": "true"})
    ),
    ("POST", "/friends/{friend_id}/owner"): Entry(
        Action.ASSIGN_OWNER, _on_chart("/owner", {"email": ""})
    ),
    ("GET", "/friends/{friend_id}/export"): Entry(
        Action.EXPORT_DATA, lambda b, ids: b.get(f"{_chart(ids)}/export")
    ),
    ("GET", "/friends/{friend_id}/erase"): Entry(
        Action.ERASE_DATA, lambda b, ids: b.get(f"{_chart(ids)}/erase")
    ),
    # Words that name nobody: the form was accepted and checked, and the friend stays.
    ("POST", "/friends/{friend_id}/erase"): Entry(
        Action.ERASE_DATA, _on_chart("/erase", {"confirmation": "nobody"}), frozenset({422})
    ),
    ("POST", "/friends/{friend_id}/fields/{key}"): Entry(
        Action.WRITE_FIELDS, _on_chart("/fields/rank", {"value": "gold"})
    ),
    ("POST", "/friends/{friend_id}/messages"): Entry(
        Action.SEND_MESSAGES, _on_chart("/messages", {"text": "hello", "key": "matrix-message"})
    ),
    # The sandbox LINE knows no profile of this made-up user: allowed, it asked LINE.
    ("POST", "/friends/{friend_id}/profile"): Entry(
        Action.WRITE_FIELDS, _on_chart("/profile", {}), frozenset({502})
    ),
    # The sandbox LINE knows no such user, so it issues no link token: allowed, it asked LINE.
    ("POST", "/friends/{friend_id}/account-link"): Entry(
        Action.SEND_MESSAGES, _on_chart("/account-link", {}), frozenset({502})
    ),
    # No such sequence: the form was accepted and checked.
    ("POST", "/friends/{friend_id}/sequences"): Entry(
        Action.SEND_MESSAGES, _on_chart("/sequences", {"sequence": "none"}), frozenset({404})
    ),
    # No media on this message: allowed, it looked (tests/console/test_media.py serves some).
    ("GET", "/media/{message_id}"): Entry(
        Action.READ_FRIENDS, lambda b, ids: b.get(f"/console/media/{ids.note}"), frozenset({404})
    ),
    ("GET", "/fields"): Entry(Action.MANAGE_FIELDS, lambda b, ids: b.get("/console/fields")),
    ("POST", "/fields"): Entry(
        Action.MANAGE_FIELDS,
        lambda b, ids: b.submit(
            "/console/account", "/console/fields", {"key": "size", "label": "Size", "type": "text"}
        ),
    ),
    ("POST", "/fields/{key}/delete"): Entry(
        Action.MANAGE_FIELDS,
        lambda b, ids: b.submit("/console/account", "/console/fields/spare/delete", {}),
    ),
    ("POST", "/friends/bulk"): Entry(
        Action.TAG_FRIENDS,
        lambda b, ids: b.submit(
            "/console/friends", "/console/friends/bulk", {"action": "add_tag", "tag": "bulk"}
        ),
    ),
    ("GET", "/friends/bulk/{job_id}"): Entry(
        Action.READ_FRIENDS, lambda b, ids: b.get(f"/console/friends/bulk/{ids.bulk_job}")
    ),
    ("GET", "/friends/export.csv"): Entry(
        Action.EXPORT_FRIENDS, lambda b, ids: b.get("/console/friends/export.csv")
    ),
    ("POST", "/friends/segment"): Entry(
        Action.MANAGE_SEGMENTS,
        lambda b, ids: b.submit(
            "/console/friends", "/console/friends/segment?linked=false", {"name": "matrix"}
        ),
    ),
    ("GET", "/tags"): Entry(Action.MANAGE_TAGS, lambda b, ids: b.get("/console/tags")),
    ("POST", "/tags"): Entry(
        Action.MANAGE_TAGS,
        lambda b, ids: b.submit("/console/account", "/console/tags", {"name": "matrix"}),
    ),
    ("POST", "/tags/{tag_id}"): Entry(
        Action.MANAGE_TAGS,
        lambda b, ids: b.submit(
            "/console/account", f"/console/tags/{ids.tag}", {"name": "vip", "colour": "red"}
        ),
    ),
    ("GET", "/tags/{tag_id}/delete"): Entry(
        Action.MANAGE_TAGS, lambda b, ids: b.get(f"/console/tags/{ids.spare_tag}/delete")
    ),
    ("POST", "/tags/{tag_id}/delete"): Entry(
        Action.MANAGE_TAGS,
        lambda b, ids: b.submit("/console/account", f"/console/tags/{ids.spare_tag}/delete", {}),
    ),
    ("GET", "/tag-rules"): Entry(Action.MANAGE_TAGS, lambda b, ids: b.get("/console/tag-rules")),
    ("POST", "/tag-rules"): Entry(
        Action.MANAGE_TAGS,
        lambda b, ids: b.submit("/console/account", "/console/tag-rules", _rule_form("matrix")),
    ),
    ("GET", "/tag-rules/{tag_rule_id}"): Entry(
        Action.MANAGE_TAGS, lambda b, ids: b.get(f"/console/tag-rules/{ids.tag_rule}")
    ),
    ("POST", "/tag-rules/{tag_rule_id}"): Entry(
        Action.MANAGE_TAGS,
        lambda b, ids: b.submit(
            "/console/account", f"/console/tag-rules/{ids.tag_rule}", _rule_form("members 2")
        ),
    ),
    ("POST", "/tag-rules/{tag_rule_id}/delete"): Entry(
        Action.MANAGE_TAGS,
        lambda b, ids: b.submit(
            "/console/account", f"/console/tag-rules/{ids.spare_tag_rule}/delete", {}
        ),
    ),
    ("GET", "/tracked-links"): Entry(
        Action.MANAGE_TAGS, lambda b, ids: b.get("/console/tracked-links")
    ),
    ("POST", "/tracked-links"): Entry(
        Action.MANAGE_TAGS,
        lambda b, ids: b.submit("/console/account", "/console/tracked-links", _link_form("matrix")),
    ),
    ("GET", "/tracked-links/{link_id}"): Entry(
        Action.MANAGE_TAGS, lambda b, ids: b.get(f"/console/tracked-links/{ids.tracked_link}")
    ),
    ("POST", "/tracked-links/{link_id}"): Entry(
        Action.MANAGE_TAGS,
        lambda b, ids: b.submit(
            "/console/account", f"/console/tracked-links/{ids.tracked_link}", _link_form("menu 2")
        ),
    ),
    ("GET", "/auto-replies"): Entry(
        Action.MANAGE_AUTO_REPLIES, lambda b, ids: b.get("/console/auto-replies")
    ),
    ("GET", "/auto-replies/new"): Entry(
        Action.MANAGE_AUTO_REPLIES, lambda b, ids: b.get("/console/auto-replies/new")
    ),
    ("POST", "/auto-replies/new"): Entry(
        Action.MANAGE_AUTO_REPLIES,
        lambda b, ids: b.submit(
            "/console/account",
            "/console/auto-replies/new",
            RULE | {"channel": ids.channel},
        ),
    ),
    ("GET", "/auto-replies/rules/{rule_id}"): Entry(
        Action.MANAGE_AUTO_REPLIES,
        lambda b, ids: b.get(f"/console/auto-replies/rules/{ids.rule}"),
    ),
    ("POST", "/auto-replies/rules/{rule_id}"): Entry(
        Action.MANAGE_AUTO_REPLIES,
        lambda b, ids: b.submit(
            "/console/account",
            f"/console/auto-replies/rules/{ids.rule}",
            RULE | {"name": "hours", "channel": ids.channel},
        ),
    ),
    ("POST", "/auto-replies/rules/{rule_id}/delete"): Entry(
        Action.MANAGE_AUTO_REPLIES,
        lambda b, ids: b.submit(
            "/console/account", f"/console/auto-replies/rules/{ids.spare_rule}/delete", {}
        ),
    ),
    ("GET", "/auto-replies/faq"): Entry(
        Action.MANAGE_AUTO_REPLIES, lambda b, ids: b.get("/console/auto-replies/faq")
    ),
    ("GET", "/auto-replies/faq/{faq_id}"): Entry(
        Action.MANAGE_AUTO_REPLIES, lambda b, ids: b.get(f"/console/auto-replies/faq/{ids.faq}")
    ),
    ("POST", "/auto-replies/faq"): Entry(
        Action.MANAGE_AUTO_REPLIES,
        lambda b, ids: b.submit(
            "/console/account", "/console/auto-replies/faq", FAQ | {"channel": ids.channel}
        ),
    ),
    ("POST", "/auto-replies/faq/{faq_id}"): Entry(
        Action.MANAGE_AUTO_REPLIES,
        lambda b, ids: b.submit(
            "/console/account",
            f"/console/auto-replies/faq/{ids.faq}",
            FAQ | {"name": "parking", "channel": ids.channel},
        ),
    ),
    ("POST", "/auto-replies/faq/{faq_id}/delete"): Entry(
        Action.MANAGE_AUTO_REPLIES,
        lambda b, ids: b.submit(
            "/console/account", f"/console/auto-replies/faq/{ids.spare_faq}/delete", {}
        ),
    ),
    ("GET", "/auto-replies/try"): Entry(
        Action.MANAGE_AUTO_REPLIES,
        lambda b, ids: b.get("/console/auto-replies/try", params={"text": "営業時間"}),
    ),
    ("GET", "/coupons"): Entry(Action.READ_FRIENDS, lambda b, ids: b.get("/console/coupons")),
    # No discount named: the form was accepted and checked.
    ("POST", "/coupons"): Entry(
        Action.MANAGE_CAMPAIGNS,
        lambda b, ids: b.submit(
            "/console/account",
            "/console/coupons",
            {"name": "m", "connection_id": "1", "title": "t", "code_prefix": "M"},
        ),
        frozenset({400}),
    ),
    ("GET", "/coupons/{pool_id}"): Entry(
        Action.READ_FRIENDS, lambda b, ids: b.get(f"/console/coupons/{ids.pool}")
    ),
    # No codes asked for: the form was accepted and checked.
    ("POST", "/coupons/{pool_id}/codes"): Entry(
        Action.MANAGE_CAMPAIGNS,
        lambda b, ids: b.submit(
            "/console/account", f"/console/coupons/{ids.pool}/codes", {"count": "0"}
        ),
        frozenset({400}),
    ),
    ("GET", "/tokens"): Entry(Action.MANAGE_TOKENS, lambda b, ids: b.get("/console/tokens")),
    ("POST", "/tokens"): Entry(
        Action.MANAGE_TOKENS,
        lambda b, ids: b.submit("/console/account", "/console/tokens", {"name": "matrix"}),
    ),
    ("POST", "/tokens/{token_id}/revoke"): Entry(
        Action.MANAGE_TOKENS,
        lambda b, ids: b.submit("/console/account", f"/console/tokens/{ids.token}/revoke", {}),
    ),
    ("GET", "/inbox"): Entry(Action.READ_FRIENDS, lambda b, ids: b.get("/console/inbox")),
    ("GET", "/friends/{friend_id}/conversation"): Entry(
        Action.READ_FRIENDS, lambda b, ids: b.get(f"{_chart(ids)}/conversation")
    ),
    ("GET", "/inbox/conversations/{conversation_id}"): Entry(
        Action.READ_FRIENDS, lambda b, ids: b.get(_conversation(ids))
    ),
    ("POST", "/inbox/conversations/{conversation_id}/replies"): Entry(
        Action.SEND_MESSAGES,
        # Confirmed: the chart's message above already answered the conversation.
        _on_conversation(
            "/replies",
            {"text": "hello", "version": "0", "key": "matrix-reply", "confirm": "true"},
        ),
    ),
    ("POST", "/inbox/conversations/{conversation_id}/images"): Entry(
        Action.SEND_MESSAGES, _image_reply
    ),
    ("POST", "/inbox/conversations/{conversation_id}/templates"): Entry(
        Action.SEND_MESSAGES,
        lambda b, ids: _on_conversation(
            "/templates",
            {"template_id": str(ids.template), "version": "0", "key": "matrix-tpl", "confirm": "1"},
        )(b, ids),
    ),
    ("POST", "/inbox/conversations/{conversation_id}/presence"): Entry(
        Action.READ_FRIENDS, _on_conversation("/presence", {"typing": "true"})
    ),
    ("POST", "/inbox/conversations/{conversation_id}/presence/leave"): Entry(
        Action.READ_FRIENDS, _on_conversation("/presence/leave", {}), ok=frozenset({204})
    ),
    ("POST", "/inbox/conversations/{conversation_id}/status"): Entry(
        Action.HANDLE_CONVERSATIONS, _on_conversation("/status", {"status": "resolved"})
    ),
    ("POST", "/inbox/conversations/{conversation_id}/assignee"): Entry(
        Action.HANDLE_CONVERSATIONS, _on_conversation("/assignee", {"email": ""})
    ),
    ("POST", "/inbox/conversations/{conversation_id}/mark"): Entry(
        Action.HANDLE_CONVERSATIONS, _on_conversation("/mark", {"mark_id": ""})
    ),
    ("POST", "/inbox/conversations/{conversation_id}/notes"): Entry(
        Action.WRITE_NOTES, _on_conversation("/notes", {"body": "a note"})
    ),
    ("GET", "/inbox/events"): Entry(Action.READ_FRIENDS, _event_stream),
    ("GET", "/inbox/mentions"): Entry(
        Action.READ_FRIENDS, lambda b, ids: b.get("/console/inbox/mentions")
    ),
    ("GET", "/inbox/report"): Entry(
        Action.MANAGE_INBOX, lambda b, ids: b.get("/console/inbox/report")
    ),
    ("GET", "/inbox/marks"): Entry(
        Action.MANAGE_INBOX, lambda b, ids: b.get("/console/inbox/marks")
    ),
    ("POST", "/inbox/marks"): Entry(
        Action.MANAGE_INBOX, _on_inbox("/console/inbox/marks", {"name": "VIP", "colour": "red"})
    ),
    ("POST", "/inbox/marks/{mark_id}/delete"): Entry(
        Action.MANAGE_INBOX, _on_inbox("/console/inbox/marks/{ids.mark}/delete", {})
    ),
    ("GET", "/inbox/canned"): Entry(
        Action.MANAGE_INBOX, lambda b, ids: b.get("/console/inbox/canned")
    ),
    ("POST", "/inbox/canned"): Entry(
        Action.MANAGE_INBOX,
        _on_inbox("/console/inbox/canned", {"code": "hours", "title": "Hours", "body": "10-19"}),
    ),
    ("POST", "/inbox/canned/{code}/delete"): Entry(
        Action.MANAGE_INBOX, _on_inbox("/console/inbox/canned/spare/delete", {})
    ),
    ("GET", "/inbox/templates"): Entry(
        Action.MANAGE_INBOX, lambda b, ids: b.get("/console/inbox/templates")
    ),
    ("GET", "/inbox/templates/new"): Entry(
        Action.MANAGE_INBOX, lambda b, ids: b.get("/console/inbox/templates/new")
    ),
    ("POST", "/inbox/templates/new"): Entry(
        Action.MANAGE_INBOX,
        _on_inbox("/console/inbox/templates/new", {"name": "matrix", "text_1": "こんにちは"}),
    ),
    ("GET", "/inbox/templates/{template_id}"): Entry(
        Action.MANAGE_INBOX,
        lambda b, ids: b.get(f"/console/inbox/templates/{ids.template}?friend={ids.friend}"),
    ),
    ("POST", "/inbox/templates/{template_id}"): Entry(
        Action.MANAGE_INBOX,
        _on_inbox("/console/inbox/templates/{ids.template}", {"name": "menu", "text_1": "本日"}),
    ),
    ("GET", "/inbox/templates/{template_id}/delete"): Entry(
        Action.MANAGE_INBOX,
        lambda b, ids: b.get(f"/console/inbox/templates/{ids.spare_template}/delete"),
    ),
    ("POST", "/inbox/templates/{template_id}/delete"): Entry(
        Action.MANAGE_INBOX, _on_inbox("/console/inbox/templates/{ids.spare_template}/delete", {})
    ),
    ("GET", "/routes"): Entry(Action.READ_FRIENDS, lambda b, ids: b.get("/console/routes")),
    ("POST", "/routes"): Entry(
        Action.MANAGE_ROUTES,
        lambda b, ids: b.submit("/console/account", "/console/routes", {"name": "matrix"}),
    ),
    ("GET", "/routes/{route_id}"): Entry(
        Action.READ_FRIENDS, lambda b, ids: b.get(f"/console/routes/{ids.route}")
    ),
    ("POST", "/routes/{route_id}"): Entry(
        Action.MANAGE_ROUTES,
        lambda b, ids: b.submit(
            "/console/account", f"/console/routes/{ids.route}", {"name": "Counter QR 2"}
        ),
    ),
    ("POST", "/routes/{route_id}/archive"): Entry(
        Action.MANAGE_ROUTES,
        lambda b, ids: b.submit(
            f"/console/routes/{ids.route}", f"/console/routes/{ids.route}/archive", {}
        ),
    ),
    ("POST", "/routes/{route_id}/restore"): Entry(
        Action.MANAGE_ROUTES,
        lambda b, ids: b.submit(
            f"/console/routes/{ids.route}", f"/console/routes/{ids.route}/restore", {}
        ),
    ),
    ("GET", "/routes/{route_id}/report.csv"): Entry(
        Action.READ_FRIENDS, lambda b, ids: b.get(f"/console/routes/{ids.route}/report.csv")
    ),
    ("GET", "/forms"): Entry(Action.READ_FRIENDS, lambda b, ids: b.get("/console/forms")),
    ("GET", "/forms/new"): Entry(Action.MANAGE_FORMS, lambda b, ids: b.get("/console/forms/new")),
    ("POST", "/forms"): Entry(
        Action.MANAGE_FORMS,
        lambda b, ids: b.submit("/console/account", "/console/forms", {"name": "matrix"}),
        ok=frozenset({400}),
    ),
    ("POST", "/forms/preview"): Entry(
        Action.MANAGE_FORMS,
        lambda b, ids: b.submit("/console/account", "/console/forms/preview", {"title": "t"}),
    ),
    ("GET", "/forms/{form_id}"): Entry(
        Action.READ_FRIENDS, lambda b, ids: b.get(f"/console/forms/{ids.form}")
    ),
    ("POST", "/forms/{form_id}"): Entry(
        Action.MANAGE_FORMS,
        lambda b, ids: b.submit(
            "/console/account",
            f"/console/forms/{ids.form}",
            {
                "name": "Survey 2",
                "title": "t",
                "q_kind": "short_text",
                "q_key": "a",
                "q_label": "A",
            },
        ),
    ),
    ("GET", "/forms/{form_id}/results"): Entry(
        Action.READ_FRIENDS, lambda b, ids: b.get(f"/console/forms/{ids.form}/results")
    ),
    ("GET", "/forms/{form_id}/submissions.csv"): Entry(
        Action.EXPORT_FRIENDS, lambda b, ids: b.get(f"/console/forms/{ids.form}/submissions.csv")
    ),
    ("GET", "/account"): Entry(None, lambda b, ids: b.get("/console/account")),
    ("POST", "/account/language"): Entry(
        None, _on_account("/console/account/language", {"locale": "ja"})
    ),
    ("POST", "/account/totp/start"): Entry(None, _on_account("/console/account/totp/start", {})),
    ("GET", "/account/totp"): Entry(None, lambda b, ids: b.get("/console/account/totp")),
    # A wrong code is the answer a role may get: the form was accepted and checked.
    ("POST", "/account/totp/confirm"): Entry(
        None,
        lambda b, ids: b.submit(
            "/console/account/totp", "/console/account/totp/confirm", {"code": "000000"}
        ),
        frozenset({400}),
    ),
    ("POST", "/account/totp/disable"): Entry(
        None, _on_account("/console/account/totp/disable", {"code": "000000"}), frozenset({400})
    ),
    ("POST", "/shop"): Entry(
        None,
        lambda b, ids: b.submit("/console/account", "/console/shop", {"shop_id": str(ids.shop)}),
    ),
    ("POST", "/account/sessions/{session_id}/revoke"): Entry(
        None,
        lambda b, ids: b.submit(
            "/console/account", f"/console/account/sessions/{ids.other_session}/revoke", {}
        ),
    ),
    ("POST", "/account/sign-out-everywhere"): Entry(
        None, _on_account("/console/account/sign-out-everywhere", {}), signs_out=True
    ),
    ("POST", "/logout"): Entry(None, _sign_in_again_and_out, signs_out=True),
}

# Pages before sign-in: no role to check.
ANONYMOUS = {
    ("GET", "/login"),
    ("POST", "/login"),
    ("GET", "/login/code"),
    ("POST", "/login/code"),
    ("GET", "/login/sso"),
    ("GET", "/login/sso/callback"),
    ("GET", "/password/{token}"),
    ("POST", "/password/{token}"),
}


def _console_routes(settings: Settings) -> set[tuple[str, str]]:
    found: set[tuple[str, str]] = set()

    def walk(routes: list[Any]) -> None:
        for route in routes:
            if hasattr(route, "original_router"):
                walk(route.original_router.routes)
            elif getattr(route, "methods", None):
                found.update((method, route.path) for method in route.methods - {"HEAD"})

    walk(create_console(settings, Database("sqlite://")).routes)
    return found


def test_the_matrix_names_every_console_route(settings: Settings) -> None:
    routes = _console_routes(settings)
    named = set(MATRIX) | ANONYMOUS

    assert routes - named == set(), "add these console routes to MATRIX in this file"
    assert named - routes == set(), "MATRIX names routes the console no longer has"


@pytest.mark.parametrize("role", list(Role))
def test_each_role_may_do_what_the_table_says_and_is_told_why_not(
    db: Database, hub_url: str, shop: Shop, channel: ChannelSetup, role: Role
) -> None:
    email = f"{role.value}@example.jp"
    friend_id = add_friend(db, channel.channel_pk, "U" + "1" * 32, tags=("vip", "spare"))
    add_staff(db, shop, email, role)
    with db.session_scope() as session:
        friend = session.get_one(Friend, friend_id)
        note = notes.add_note(
            session, friend=friend, body=NoteIn(body="mine"), author=f"staff:{email}"
        )
        token, _plaintext = create_token(session, shop=session.get_one(Shop, shop.id), name="ci")
        ids_values = (friend_id, note.id, token.id)
        for key in ("rank", "spare"):
            fields.define(
                session,
                shop_id=shop.id,
                spec=FieldDefinitionIn(key=key, label=key, type=FieldType.TEXT),
                actor="test",
            )
        bulk_job = friend_bulk.start(
            session,
            shop_id=shop.id,
            filters=FriendFilters(),
            body=BulkIn(action=BulkAction.ADD_TAG, tag="setup"),
            actor="test",
        ).id
        tag_ids = {name: tag_id for name, tag_id in session.execute(select(Tag.name, Tag.id))}
        conversation_id = inbox_conversations.conversation_of(session, friend).id
        mark_id = library.add_mark(
            session, shop_id=shop.id, body=MarkIn(name="spare"), actor="test"
        ).id
        library.save_canned(
            session,
            shop_id=shop.id,
            body=CannedIn(code="spare", title="spare", body="spare"),
            actor="test",
        )
        rules = [add_rule(session, channel, name=name) for name in ("hours", "spare")]
        faq = [add_faq(session, channel, PARKING_FAQ, name=n) for n in ("parking", "spare")]
        route_id = routes.create_route(
            session, shop_id=shop.id, spec=RouteIn(name="Counter QR"), actor="test"
        ).id
        tag_rules = [
            tag_rule_service.save_rule(
                session,
                shop_id=shop.id,
                spec=TagRuleSpec.model_validate(
                    {"name": name, "trigger": {"event": "link"}, "add": ["member"]}
                ),
                actor="test",
            ).id
            for name in ("members", "spare")
        ]
        tracked_link = links.save_link(
            session, shop_id=shop.id, spec=StandaloneLinkSpec(**_link_form("menu")), actor="test"
        ).id
        form_id = forms_service.create_form(
            session,
            shop_id=shop.id,
            spec=FormIn(
                name="Survey",
                title="Survey",
                questions=[Question(kind=Kind.SHORT_TEXT, key="a", label="A")],
            ),
            actor="test",
        ).id
        template_id, spare_template = (
            template_library.save(
                session,
                shop_id=shop.id,
                body=NamedTemplateIn(name=name, messages=[{"type": "text", "text": "メニュー"}]),
                actor="test",
            ).id
            for name in ("menu", "spare")
        )
    Browser(hub_url).sign_in(email)
    with db.session_scope() as session:
        other_session = session.scalars(select(StaffSession.id)).one()
    ids = Ids(
        email,
        *ids_values,
        shop=shop.id,
        other_session=other_session,
        tag=tag_ids["vip"],
        spare_tag=tag_ids["spare"],
        bulk_job=bulk_job,
        conversation=conversation_id,
        mark=mark_id,
        route=route_id,
        tag_rule=tag_rules[0],
        spare_tag_rule=tag_rules[1],
        tracked_link=tracked_link,
        form=form_id,
        template=template_id,
        spare_template=spare_template,
        rule=rules[0],
        spare_rule=rules[1],
        faq=faq[0],
        spare_faq=faq[1],
        channel=channel.channel_id,
        pool=offline_pool(db, shop.id),
    )
    browser = Browser(hub_url)
    browser.sign_in(email)
    ja = i18n.translations("ja")

    for route, entry in MATRIX.items():
        response = entry.call(browser, ids)
        allowed = entry.action is None or allows(role, entry.action)
        if allowed:
            assert response.status_code in entry.ok, (role, route, response.status_code)
            if not entry.signs_out:
                assert "/login" not in response.headers.get("location", ""), (role, route)
        else:
            assert entry.action is not None
            needed = ja.gettext(MINIMUM_ROLE[entry.action].value)
            assert response.status_code == 403, (role, route, response.status_code)
            assert f"「{needed}」以上の権限が必要です" in response.text, (role, route)
