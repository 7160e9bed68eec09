"""Follow routes as a test drives them: a channel with its LIFF app, a route made through the
admin API, and a LINE user opening the route's URL and adding the friend in the sandbox."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import select

from core.db import Database
from core.tenancy import Channel
from growth.models import RouteTouch
from idlink.models import Friend
from sandbox.line.server import SandboxServer
from tests.api.admin_support import AdminApi
from tests.factories import ChannelSetup
from tests.waiting import wait_for


def give_liff_app(database: Database, channel: ChannelSetup) -> str:
    """Give the channel a LIFF app (its id starts with the LINE Login channel's); returns it."""
    liff_id = f"{channel.login_channel_id}-routes"
    with database.session_scope() as session:
        session.get_one(Channel, channel.channel_pk).liff_id = liff_id
    return liff_id


def make_route(api: AdminApi, name: str, **spec: Any) -> dict[str, Any]:
    response = api.post("/routes", {"name": name, **spec})
    assert response.status_code == 201, response.text
    return response.json()


def visit(
    hub_url: str, sandbox: SandboxServer, channel: ChannelSetup, code: str, user_id: str
) -> httpx.Response:
    """What the route page does once LIFF gave it the user's ID token."""
    token = sandbox.state.issue_id_token(user_id, channel.login_channel_id)
    return httpx.post(
        f"{hub_url}/api/routes/visit", json={"code": code, "id_token": token}, timeout=10
    )


def add_friend_on_screen(next_url: str, user_id: str) -> httpx.Response:
    """The user taps "Add friend" on LINE's (the sandbox's) add-friend screen."""
    return httpx.post(next_url, data={"user_id": user_id}, timeout=10)


def route_of(database: Database, channel: ChannelSetup, user_id: str) -> str | None:
    """The follow route the user's friend row names (the friend must exist)."""
    friend = friend_of(database, channel, user_id)
    assert friend is not None, f"no friend for {user_id}"
    return friend.follow_route


def friend_of(database: Database, channel: ChannelSetup, user_id: str) -> Friend | None:
    with database.session_scope() as session:
        return session.scalar(
            select(Friend).where(
                Friend.channel_id == channel.channel_pk, Friend.line_user_id == user_id
            )
        )


def touches(database: Database, friend_id: int) -> list[RouteTouch]:
    with database.session_scope() as session:
        return list(
            session.scalars(
                select(RouteTouch).where(RouteTouch.friend_id == friend_id).order_by(RouteTouch.id)
            )
        )


def wait_touches(database: Database, friend_id: int, count: int) -> list[RouteTouch]:
    return wait_for(
        lambda: (found := touches(database, friend_id)) and len(found) >= count and found,
        what=f"{count} route touch(es)",
    )
