"""What the sandbox shows people: the users overview (JSON and HTML) and small pages."""

from __future__ import annotations

import html
import json
import re
import time
from typing import Any
from urllib.parse import quote, urlencode

from sandbox.line.login import LiffApp
from sandbox.line.models import ReceivedMessage, SandboxChannel, WebhookDelivery
from sandbox.line.state import SandboxState

# LIFF URLs in sent messages; the page links them to the sandbox's LIFF opener.
LIFF_URL = re.compile(r"https://liff\.line\.me/([0-9]+-[A-Za-z0-9_-]+)(/[^\s\"'<>]*)?")
RECENT_WEBHOOKS = 20
STYLE = (
    "body{font-family:sans-serif;margin:2em;max-width:60em}li{margin:.2em 0}"
    "code{background:#eee;padding:0 .2em}"
)


def users_overview(state: SandboxState) -> list[dict[str, Any]]:
    """Return each user with, per channel, the follow status and the linked rich menu."""
    with state.lock:
        overview = []
        for user in state.users.values():
            channels = {}
            for channel in state.channels.values():
                friendship = channel.friends.get(user.user_id)
                channels[channel.channel_id] = {
                    "status": friendship.status if friendship else "none",
                    "rich_menu_id": friendship.rich_menu_id if friendship else None,
                    "default_rich_menu_id": channel.default_rich_menu_id,
                }
            overview.append({**user.to_dict(), "channels": channels})
        return overview


def document(title: str, body_html: str, *, heading: bool = True) -> str:
    """Wrap ``body_html`` (already escaped) in a small HTML page."""
    header = f"<h1>{html.escape(title)}</h1>" if heading else ""
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        "<link rel='icon' href='data:,'>"
        f"<style>{STYLE}</style></head><body>{header}{body_html}</body></html>"
    )


def overview_html(state: SandboxState) -> str:
    """Render ``GET /sandbox``: users, follow state, rich menu, LIFF apps, received messages."""
    with state.lock:
        apps = list(state.liff_apps.values())
    sections = [_user_section(state, entry, apps) for entry in users_overview(state)]
    users = "".join(sections) or "<p>No users yet.</p>"
    webhooks = _webhooks_section(state.webhook_deliveries()[-RECENT_WEBHOOKS:])
    add_user = (
        "<p><input id='new-user' placeholder='display name'> "
        "<button data-action='add-user'>Add a user</button></p>"
    )
    script = "<script src='/sandbox/static/overview.js'></script>"
    return document("LINE sandbox", add_user + users + webhooks + script)


def choose_user_html(state: SandboxState, redirect_uri: str) -> str:
    """Render a page listing users; each link goes back to ``redirect_uri`` as that user."""
    with state.lock:
        users = list(state.users.values())
    separator = "&" if "?" in redirect_uri else "?"
    items = "".join(
        f'<li><a href="{html.escape(redirect_uri + separator + _as_user(u.user_id))}">'
        f"{html.escape(u.display_name)}</a> <code>{u.user_id}</code></li>"
        for u in users
    )
    return document("Log in to LINE (sandbox)", f"<p>Choose who you are:</p><ul>{items}</ul>")


def add_friend_html(state: SandboxState, channel: SandboxChannel, user_id: str | None) -> str:
    """LINE's add-friend screen: one "Add friend" button per simulated user (or the one named)."""
    with state.lock:
        users = [u for u in state.users.values() if user_id in (None, u.user_id)]
    items = "".join(
        f"<li><form method='post'><input type='hidden' name='user_id' value='{u.user_id}'>"
        f"<button>Add friend as {html.escape(u.display_name)}</button> "
        f"{'(already a friend)' if channel.is_following(u.user_id) else ''}</form></li>"
        for u in users
    )
    title = f"{channel.display_name} {channel.basic_id}"
    return document(title, f"<p>Who is holding the phone?</p><ul>{items}</ul>")


def _user_section(state: SandboxState, entry: dict[str, Any], apps: list[LiffApp]) -> str:
    user_id = entry["user_id"]
    relations = "".join(
        f"<li>channel <code>{html.escape(cid)}</code>: {rel['status']}"
        f", rich menu <code>{html.escape(_menu(rel))}</code></li>"
        for cid, rel in entry["channels"].items()
    )
    liff = "".join(
        f'<li><a href="{_liff_open_url(app.liff_id, user_id)}">open LIFF app '
        f"<code>{html.escape(app.liff_id)}</code> as this user</a></li>"
        for app in apps
    )
    messages = "".join(_message_item(m) for m in state.inbox(user_id))
    return (
        f"<h2>{html.escape(entry['display_name'])} <code>{user_id}</code></h2>"
        f"{_actions(user_id)}<ul>{relations}{liff}</ul>"
        f"<h3>Received</h3><ul>{messages or '<li>nothing yet</li>'}</ul>"
    )


def _actions(user_id: str) -> str:
    """Buttons that act as the user (handled by ``overview.js``)."""
    buttons = "".join(
        f"<button data-user='{user_id}' data-action='{action}'>{label}</button> "
        for action, label in (
            ("follow", "Follow"),
            ("unfollow", "Block"),
            ("send-text", "Send text"),
            ("postback", "Send postback data"),
        )
    )
    return f"<p><input id='input-{user_id}' placeholder='text or postback data'> {buttons}</p>"


def _message_item(message: ReceivedMessage) -> str:
    links = "".join(
        f' <a href="{_liff_open_url(liff_id, message.user_id, path or "")}">[open LIFF]</a>'
        for liff_id, path in LIFF_URL.findall(json.dumps(message.message, ensure_ascii=False))
    )
    return (
        f"<li>{_clock(message.received_at)} via <code>{message.endpoint}</code>: "
        f"{html.escape(_summary(message.message))}{links}</li>"
    )


def _webhooks_section(deliveries: list[WebhookDelivery]) -> str:
    if not deliveries:
        return ""
    items = "".join(
        f"<li>{_clock(d.sent_at)} "
        f"{html.escape(', '.join(e['type'] for e in d.events) or '(connectivity check)')}"
        f" &rarr; {d.status_code if d.status_code is not None else html.escape(d.error or '')}"
        "</li>"
        for d in reversed(deliveries)
    )
    return f"<h2>Recent webhooks</h2><ul>{items}</ul>"


def _liff_open_url(liff_id: str, user_id: str, path: str = "") -> str:
    query = {"sandbox_user": user_id, **({"path": path} if path else {})}
    return html.escape(f"/sandbox/liff-apps/{quote(liff_id)}/open?{urlencode(query)}")


def _as_user(user_id: str) -> str:
    return urlencode({"sandbox_user": user_id})


def _menu(relation: dict[str, Any]) -> str:
    linked = relation["rich_menu_id"]
    if linked:
        return linked
    default = relation["default_rich_menu_id"]
    return f"{default} (default)" if default else "-"


def _summary(message: dict[str, Any]) -> str:
    if message.get("type") == "text":
        return str(message.get("text", ""))
    return f"[{message.get('type')}] {message.get('altText', '')}".strip()


def _clock(seconds: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(seconds))
