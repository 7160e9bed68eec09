"""Helpers for the admin API tests: a token-holding client and a few rows to read back."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx

from core.db import Database
from core.tenancy import Channel, Shop, create_token
from idlink import friends
from idlink import members as member_service
from idlink.members import MemberFields
from idlink.models import LinkMethod, MemberLink

ADMIN_PREFIX = "/api/admin/v1"


@dataclass(frozen=True, slots=True)
class AdminApi:
    """The admin API as one token holder sees it, over real HTTP."""

    base_url: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def get(self, path: str, **params: Any) -> httpx.Response:
        return httpx.get(self.base_url + path, params=params, headers=self.headers, timeout=10)

    def post(self, path: str, body: dict[str, Any]) -> httpx.Response:
        return httpx.post(self.base_url + path, json=body, headers=self.headers, timeout=10)

    def put(self, path: str, body: dict[str, Any]) -> httpx.Response:
        return httpx.put(self.base_url + path, json=body, headers=self.headers, timeout=10)

    def patch(self, path: str, body: dict[str, Any]) -> httpx.Response:
        return httpx.patch(self.base_url + path, json=body, headers=self.headers, timeout=10)


def admin_api(database: Database, hub_url: str, shop: Shop, *, name: str = "staff") -> AdminApi:
    """Issue a token for ``shop`` and return a client holding it."""
    with database.session_scope() as session:
        _token, plaintext = create_token(session, shop=session.get_one(Shop, shop.id), name=name)
    return AdminApi(base_url=hub_url + ADMIN_PREFIX, token=plaintext)


def add_friend(
    database: Database,
    channel_pk: int,
    line_user_id: str,
    *,
    blocked: bool = False,
    display_name: str | None = None,
    tags: tuple[str, ...] = (),
) -> int:
    """A friend who followed (and maybe blocked) the channel, with tags; returns its id."""
    occurred = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
    with database.session_scope() as session:
        channel = session.get_one(Channel, channel_pk)
        friend = friends.record_follow(
            session, channel=channel, line_user_id=line_user_id, occurred_at=occurred
        )
        friend.display_name = display_name
        if blocked:
            friends.record_unfollow(
                session,
                channel=channel,
                line_user_id=line_user_id,
                occurred_at=occurred.replace(hour=10),
            )
        for tag in tags:
            friends.add_tag(session, friend=friend, name=tag, source="test")
        return friend.id


def add_member(database: Database, shop_id: int, member_number: str, **fields: Any) -> int:
    """A member created through the member service; returns its id."""
    with database.session_scope() as session:
        member = member_service.create_member(
            session,
            shop_id=shop_id,
            member_number=member_number,
            fields=MemberFields(**fields),
            actor="test",
        )
        return member.id


def add_link(
    database: Database, shop_id: int, friend_id: int, member_id: int, *, ended: bool = False
) -> int:
    """A link row as the linking service leaves it (active, or ended by staff)."""
    with database.session_scope() as session:
        link = MemberLink(
            shop_id=shop_id,
            provider_id="test-provider",
            friend_id=friend_id,
            member_id=member_id,
            method=LinkMethod.STAFF,
            linked_by="test",
            unlinked_at=datetime.now(UTC) if ended else None,
            unlinked_by="test" if ended else None,
        )
        session.add(link)
        session.flush()
        return link.id
