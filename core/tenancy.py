"""Tenants and their LINE channels, and the admin API tokens scoped to one shop."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import ForeignKey, String, UniqueConstraint, select
from sqlalchemy.orm import Mapped, Session, mapped_column, relationship

from core.clock import utcnow
from core.crypto import EncryptedText, new_token, sha256_hex
from core.db import Base
from core.errors import Conflict, NotFound, Unauthorized

TOKEN_PREFIX = "tsu_"


class LinkPolicy(enum.StrEnum):
    """What linking a member who is already linked to another friend does."""

    REFUSE = "refuse"
    REPLACE = "replace"


class SecondFactor(enum.StrEnum):
    """What a member types beside their member number to prove who they are."""

    BIRTH_DATE = "birth_date"
    PIN = "pin"
    PHONE_LAST4 = "phone_last4"


class Shop(Base):
    __tablename__ = "shops"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    link_policy: Mapped[str] = mapped_column(String(16), default=LinkPolicy.REFUSE)
    second_factor: Mapped[str] = mapped_column(String(16), default=SecondFactor.BIRTH_DATE)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    channels: Mapped[list[Channel]] = relationship(back_populates="shop")


class Channel(Base):
    """A LINE Official Account (Messaging API channel) and its LINE Login channel for LIFF."""

    __tablename__ = "channels"

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    line_channel_id: Mapped[str] = mapped_column(String(32), unique=True)
    channel_secret: Mapped[str] = mapped_column(EncryptedText)
    access_token: Mapped[str] = mapped_column(EncryptedText)
    provider_id: Mapped[str] = mapped_column(String(64))
    bot_user_id: Mapped[str | None] = mapped_column(String(33))
    login_channel_id: Mapped[str | None] = mapped_column(String(32))
    login_channel_secret: Mapped[str | None] = mapped_column(EncryptedText)
    liff_id: Mapped[str | None] = mapped_column(String(64))
    timezone: Mapped[str] = mapped_column(String(64), default="Asia/Tokyo")
    status: Mapped[str] = mapped_column(String(16), default="active")
    guest_rich_menu_id: Mapped[str | None] = mapped_column(String(64))
    member_rich_menu_id: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    shop: Mapped[Shop] = relationship(back_populates="channels")


class ApiToken(Base):
    """A bearer token for the admin API; only its SHA-256 is stored."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    prefix: Mapped[str] = mapped_column(String(16))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]

    __table_args__ = (UniqueConstraint("shop_id", "name"),)


def create_shop(
    session: Session,
    *,
    slug: str,
    name: str,
    link_policy: LinkPolicy = LinkPolicy.REFUSE,
    second_factor: SecondFactor = SecondFactor.BIRTH_DATE,
) -> Shop:
    """Create a shop; its slug must be new."""
    if session.scalar(select(Shop).where(Shop.slug == slug)) is not None:
        raise Conflict(f"a shop with slug {slug!r} already exists")
    shop = Shop(slug=slug, name=name, link_policy=link_policy, second_factor=second_factor)
    session.add(shop)
    session.flush()
    return shop


def get_shop(session: Session, slug: str) -> Shop:
    shop = session.scalar(select(Shop).where(Shop.slug == slug))
    if shop is None:
        raise NotFound(f"no shop {slug!r}: `tsunagu shop list` shows the shops")
    return shop


def create_channel(
    session: Session,
    *,
    shop: Shop,
    name: str,
    line_channel_id: str,
    channel_secret: str,
    access_token: str,
    provider_id: str | None = None,
    login_channel_id: str | None = None,
    login_channel_secret: str | None = None,
    liff_id: str | None = None,
    timezone: str = "Asia/Tokyo",
) -> Channel:
    """Register a LINE channel for a shop; secrets are encrypted at rest."""
    if session.scalar(select(Channel).where(Channel.line_channel_id == line_channel_id)):
        raise Conflict(f"channel {line_channel_id} is already registered")
    channel = Channel(
        shop=shop,
        name=name,
        line_channel_id=line_channel_id,
        channel_secret=channel_secret,
        access_token=access_token,
        provider_id=provider_id or f"channel:{line_channel_id}",
        login_channel_id=login_channel_id,
        login_channel_secret=login_channel_secret,
        liff_id=liff_id,
        timezone=timezone,
    )
    session.add(channel)
    session.flush()
    return channel


def get_channel(session: Session, line_channel_id: str) -> Channel:
    channel = session.scalar(select(Channel).where(Channel.line_channel_id == line_channel_id))
    if channel is None:
        raise NotFound(f"no channel {line_channel_id}: `tsunagu channel list` shows the channels")
    return channel


def create_token(session: Session, *, shop: Shop, name: str) -> tuple[ApiToken, str]:
    """Issue an admin API token; the plaintext is returned once and never stored."""
    plaintext = TOKEN_PREFIX + new_token(32)
    token = ApiToken(
        shop_id=shop.id, name=name, prefix=plaintext[:12], token_hash=sha256_hex(plaintext)
    )
    session.add(token)
    session.flush()
    return token, plaintext


def revoke_token(session: Session, *, shop: Shop, name: str) -> ApiToken:
    token = session.scalar(
        select(ApiToken).where(ApiToken.shop_id == shop.id, ApiToken.name == name)
    )
    if token is None:
        raise NotFound(f"shop {shop.slug!r} has no token named {name!r}")
    token.revoked_at = token.revoked_at or utcnow()
    return token


def authenticate(session: Session, plaintext: str) -> Shop:
    """The shop a bearer token belongs to; unknown or revoked tokens are refused."""
    token = session.scalar(select(ApiToken).where(ApiToken.token_hash == sha256_hex(plaintext)))
    if token is None or token.revoked_at is not None:
        raise Unauthorized("invalid or revoked API token: create one with `tsunagu token create`")
    token.last_used_at = utcnow()
    return session.get_one(Shop, token.shop_id)
