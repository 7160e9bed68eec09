"""What the sandbox shows people: the users overview, as JSON and as an HTML page."""

from __future__ import annotations

import html
import time
from typing import Any

from sandbox.line.state import SandboxState


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


def overview_html(state: SandboxState) -> str:
    """Render the ``GET /sandbox`` page: users, follow state, rich menu, received messages."""
    sections = [_user_section(state, entry) for entry in users_overview(state)]
    body = "".join(sections) or "<p>No users yet.</p>"
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>LINE sandbox</title>"
        "<style>body{font-family:sans-serif;margin:2em}li{margin:.2em 0}"
        "code{background:#eee;padding:0 .2em}</style></head>"
        f"<body><h1>LINE sandbox</h1>{body}</body></html>"
    )


def _user_section(state: SandboxState, entry: dict[str, Any]) -> str:
    user_id = entry["user_id"]
    relations = "".join(
        f"<li>channel <code>{html.escape(cid)}</code>: {rel['status']}"
        f", rich menu <code>{html.escape(_menu(rel))}</code></li>"
        for cid, rel in entry["channels"].items()
    )
    messages = "".join(
        f"<li>{_clock(m.received_at)} via <code>{m.endpoint}</code>: "
        f"{html.escape(_summary(m.message))}</li>"
        for m in state.inbox(user_id)
    )
    return (
        f"<h2>{html.escape(entry['display_name'])} <code>{user_id}</code></h2>"
        f"<ul>{relations}</ul><h3>Received</h3><ul>{messages or '<li>nothing yet</li>'}</ul>"
    )


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
