"""Helpers for the linking tests: members, friends who followed in the sandbox, LIFF calls, and
reading back links, tags, audit rows and what the sandbox shows each user."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
from linebot.v3.messaging import (
    ApiClient,
    Configuration,
    MessagingApi,
    MessagingApiBlob,
    PostbackAction,
    RichMenuArea,
    RichMenuBounds,
    RichMenuRequest,
    RichMenuSize,
)
from sqlalchemy import select

from core.audit import AuditLog
from core.db import Database
from idlink import members
from idlink.models import Friend, FriendTag, MemberLink, Tag
from sandbox.line.server import SandboxServer
from tests.factories import ChannelSetup
from tests.waiting import wait_for

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


@dataclass(frozen=True, slots=True)
class Person:
    """A simulated LINE user who follows the channel, and their friend row in the hub."""

    user_id: str
    friend_id: int


def add_member(database: Database, shop_id: int, number: str, **fields: Any) -> int:
    """A member created through the member service (PII normalised, PIN hashed)."""
    with database.session_scope() as session:
        member = members.create_member(
            session,
            shop_id=shop_id,
            member_number=number,
            fields=members.MemberFields(**fields),
            actor="test",
        )
        return member.id


def friend_row(database: Database, channel: ChannelSetup, user_id: str) -> Friend | None:
    with database.session_scope() as session:
        return session.scalar(
            select(Friend).where(
                Friend.channel_id == channel.channel_pk, Friend.line_user_id == user_id
            )
        )


def befriend(
    database: Database, sandbox: SandboxServer, channel: ChannelSetup, name: str = "LINE user"
) -> Person:
    """A new sandbox user follows the channel; returns once the hub knows the friend."""
    user = sandbox.state.add_user(display_name=name)
    sandbox.simulate.follow(user.user_id, channel_id=channel.channel_id)
    friend = wait_for(lambda: friend_row(database, channel, user.user_id), what="the follow")
    return Person(user_id=user.user_id, friend_id=friend.id)


def id_token(sandbox: SandboxServer, channel: ChannelSetup, person: Person, **options: Any) -> str:
    """An ID token the sandbox LINE Login issues for the person (ES256 unless told otherwise)."""
    return sandbox.state.issue_id_token(person.user_id, channel.login_channel_id, **options)


def liff_link(hub_url: str, channel: ChannelSetup, token: str, **body: Any) -> httpx.Response:
    """``POST /api/idlink/liff`` as the member card page sends it."""
    payload = {"channel_id": channel.channel_id, "id_token": token, **body}
    return httpx.post(f"{hub_url}/api/idlink/liff", json=payload, timeout=10)


def liff_call(hub_url: str, path: str, channel: ChannelSetup, token: str) -> httpx.Response:
    """``POST /api/idlink/liff/<path>`` (status, unlink) with an ID token."""
    payload = {"channel_id": channel.channel_id, "id_token": token}
    return httpx.post(f"{hub_url}/api/idlink/liff/{path}", json=payload, timeout=10)


def links(database: Database, shop_id: int) -> list[MemberLink]:
    """Every link of the shop, oldest first, ended ones included."""
    with database.session_scope() as session:
        return list(
            session.scalars(
                select(MemberLink).where(MemberLink.shop_id == shop_id).order_by(MemberLink.id)
            )
        )


def active_links(database: Database, shop_id: int) -> list[tuple[int, int]]:
    """``(friend_id, member_id)`` of the shop's active links."""
    return [(k.friend_id, k.member_id) for k in links(database, shop_id) if k.unlinked_at is None]


def tags_of(database: Database, friend_id: int) -> set[str]:
    with database.session_scope() as session:
        return set(
            session.scalars(
                select(Tag.name)
                .join(FriendTag, FriendTag.tag_id == Tag.id)
                .where(FriendTag.friend_id == friend_id)
            )
        )


def audit_actions(database: Database, shop_id: int) -> list[str]:
    """The shop's audit actions, oldest first (member creation left out)."""
    with database.session_scope() as session:
        return [
            entry.action
            for entry in session.scalars(
                select(AuditLog).where(AuditLog.shop_id == shop_id).order_by(AuditLog.id)
            )
            if not entry.action.startswith("member.")
        ]


def audit_entries(database: Database, shop_id: int, action: str) -> list[AuditLog]:
    with database.session_scope() as session:
        return list(
            session.scalars(
                select(AuditLog)
                .where(AuditLog.shop_id == shop_id, AuditLog.action == action)
                .order_by(AuditLog.id)
            )
        )


def create_rich_menu(sandbox: SandboxServer, channel: ChannelSetup, name: str) -> str:
    """A rich menu with its image, created in the sandbox through the official SDK."""
    configuration = Configuration(access_token=channel.access_token, host=sandbox.url)
    area = RichMenuArea(
        bounds=RichMenuBounds(x=0, y=0, width=2500, height=843),
        action=PostbackAction(data="action=card", label="Card"),
    )
    request = RichMenuRequest(
        size=RichMenuSize(width=2500, height=843),
        selected=False,
        name=name,
        chat_bar_text="Menu",
        areas=[area],
    )
    with ApiClient(configuration) as client:
        rich_menu_id = MessagingApi(client).create_rich_menu(request).rich_menu_id
        MessagingApiBlob(client).set_rich_menu_image(
            rich_menu_id, PNG, _headers={"Content-Type": "image/png"}
        )
    return rich_menu_id


def rich_menu_of(sandbox: SandboxServer, channel: ChannelSetup, person: Person) -> str | None:
    """The rich menu the sandbox shows this user individually (None: the default applies)."""
    with sandbox.state.lock:
        friendship = sandbox.state.channel(channel.channel_id).friends.get(person.user_id)
        return friendship.rich_menu_id if friendship else None
