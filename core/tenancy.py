"""Tenants and their LINE channels, and the admin API tokens scoped to one shop."""

from __future__ import annotations

import enum
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, String, UniqueConstraint, select, update
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


class ChannelStatus(enum.StrEnum):
    """Whether the hub sends for a channel: paused when LINE refused its access token."""

    ACTIVE = "active"
    PAUSED = "paused"


class ChannelMode(enum.StrEnum):
    """A channel's mode, as LINE states it in every webhook event: in standby the bot must not
    send."""

    ACTIVE = "active"
    STANDBY = "standby"


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
    # The account's LINE ID ("@abc1234"), for its add-friend URL; read from LINE when first needed.
    basic_id: Mapped[str | None] = mapped_column(String(32))
    timezone: Mapped[str] = mapped_column(String(64), default="Asia/Tokyo")
    status: Mapped[str] = mapped_column(String(16), default=ChannelStatus.ACTIVE)
    # LINE's mode for the channel (``active``/``standby``, from its webhook events): a channel
    # in standby must not send; ``mode_since`` is the LINE timestamp (ms) of the event that said so.
    mode: Mapped[str] = mapped_column(
        String(16), default=ChannelMode.ACTIVE, server_default=ChannelMode.ACTIVE.value
    )
    mode_since: Mapped[int | None] = mapped_column(BigInteger)
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


def shop_timezone(session: Session, shop_id: int) -> str:
    """The timezone the shop's times are shown in: its first LINE channel's (Asia/Tokyo when
    it has none yet)."""
    zone = session.scalar(
        select(Channel.timezone).where(Channel.shop_id == shop_id).order_by(Channel.id).limit(1)
    )
    return zone or "Asia/Tokyo"


def get_channel(session: Session, line_channel_id: str) -> Channel:
    channel = session.scalar(select(Channel).where(Channel.line_channel_id == line_channel_id))
    if channel is None:
        raise NotFound(f"no channel {line_channel_id}: `tsunagu channel list` shows the channels")
    return channel


@dataclass(frozen=True, slots=True)
class ChannelKeys:
    """What webhook intake needs of a channel, decrypted: its ids, secret and bot user id."""

    id: int
    shop_id: int
    line_channel_id: str
    channel_secret: str
    bot_user_id: str | None


def get_channel_keys(session: Session, line_channel_id: str) -> ChannelKeys:
    """The channel's keys, read without loading the row's other secrets."""
    row = session.execute(
        select(Channel.id, Channel.shop_id, Channel.channel_secret, Channel.bot_user_id).where(
            Channel.line_channel_id == line_channel_id
        )
    ).one_or_none()
    if row is None:
        raise NotFound(f"no channel {line_channel_id}: `tsunagu channel list` shows the channels")
    return ChannelKeys(
        id=row.id,
        shop_id=row.shop_id,
        line_channel_id=line_channel_id,
        channel_secret=row.channel_secret,
        bot_user_id=row.bot_user_id,
    )


def claim_bot_user_id(session: Session, *, channel_id: int, bot_user_id: str) -> str | None:
    """Record the channel's bot user id unless one is recorded; return the one recorded.

    Only a missing id is ever written, so concurrent first webhooks cannot overwrite each other.
    """
    session.execute(
        update(Channel)
        .where(Channel.id == channel_id, Channel.bot_user_id.is_(None))
        .values(bot_user_id=bot_user_id)
        .execution_options(synchronize_session=False)
    )
    return session.scalar(select(Channel.bot_user_id).where(Channel.id == channel_id))


class ChannelKeyCache:
    """Channel keys by LINE channel id, each kept for ``ttl`` seconds.

    Webhook intake needs them on every request; the cache spares it a query and a decryption.
    A changed secret is seen within ``ttl``, or at once by a caller that reloads and ``put``s
    the keys (intake does, before it refuses a signature).
    """

    def __init__(self, ttl: float = 30.0, clock: Callable[[], float] = time.monotonic) -> None:
        self._ttl = ttl
        self._clock = clock
        self._entries: dict[str, tuple[float, ChannelKeys]] = {}

    def get(self, line_channel_id: str) -> ChannelKeys | None:
        """The cached keys, or None when absent or expired."""
        entry = self._entries.get(line_channel_id)
        if entry is None or entry[0] <= self._clock():
            return None
        return entry[1]

    def put(self, keys: ChannelKeys) -> ChannelKeys:
        """Cache ``keys`` for ``ttl`` seconds from now; return them."""
        self._entries[keys.line_channel_id] = (self._clock() + self._ttl, keys)
        return keys


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
    shop = session.get(Shop, token.shop_id)
    if shop is None:
        # The shop was removed and its token left behind: the token names nothing.
        raise Unauthorized("invalid or revoked API token: create one with `tsunagu token create`")
    token.last_used_at = utcnow()
    return shop
