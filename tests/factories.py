"""Small typed factories: a shop with a LINE channel registered in both the hub and the sandbox."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

import pytest

from core.db import Database
from core.tenancy import (
    Channel,
    LinkPolicy,
    SecondFactor,
    Shop,
    create_channel,
    create_shop,
)
from sandbox.line.server import SandboxServer
from tests.tiers import is_fast


@dataclass(frozen=True, slots=True)
class ChannelSetup:
    """A channel as the test knows it: ids and plaintext secrets, for signing and checking."""

    shop_id: int
    shop_slug: str
    channel_pk: int
    channel_id: str
    channel_secret: str
    access_token: str
    login_channel_id: str
    login_channel_secret: str
    bot_user_id: str
    webhook_url: str


NO_HUB_URL = "http://127.0.0.1:9"
"""Where the fast tier's channels send their webhooks: nothing listens there."""


def make_shop(
    database: Database,
    *,
    link_policy: LinkPolicy = LinkPolicy.REFUSE,
    second_factor: SecondFactor = SecondFactor.BIRTH_DATE,
) -> Shop:
    """A new shop with a unique slug."""
    with database.session_scope() as session:
        return create_shop(
            session,
            slug=f"shop-{secrets.token_hex(4)}",
            name="Test shop",
            link_policy=link_policy,
            second_factor=second_factor,
        )


def make_channel(
    database: Database, sandbox: SandboxServer, hub_url: str, shop: Shop
) -> ChannelSetup:
    """Register a channel in the hub and the same channel in the sandbox, wired to the hub."""
    channel_id = str(secrets.randbelow(9 * 10**9) + 10**9)
    login_channel_id = str(secrets.randbelow(9 * 10**9) + 10**9)
    secret = secrets.token_hex(16)
    token = secrets.token_urlsafe(32)
    login_secret = secrets.token_hex(16)
    webhook_url = f"{hub_url}/webhooks/line/{channel_id}"
    with database.session_scope() as session:
        channel: Channel = create_channel(
            session,
            shop=session.get_one(Shop, shop.id),
            name="Main account",
            line_channel_id=channel_id,
            channel_secret=secret,
            access_token=token,
            login_channel_id=login_channel_id,
            login_channel_secret=login_secret,
        )
        channel_pk = channel.id
    sandboxed = sandbox.state.add_channel(
        channel_id,
        secret,
        token,
        login_channel_id=login_channel_id,
        login_channel_secret=login_secret,
        webhook_url=webhook_url,
    )
    return ChannelSetup(
        shop_id=shop.id,
        shop_slug=shop.slug,
        channel_pk=channel_pk,
        channel_id=channel_id,
        channel_secret=secret,
        access_token=token,
        login_channel_id=login_channel_id,
        login_channel_secret=login_secret,
        bot_user_id=sandboxed.bot_user_id,
        webhook_url=webhook_url,
    )


@pytest.fixture
def shop(db: Database) -> Shop:
    return make_shop(db)


@pytest.fixture
def channel(
    request: pytest.FixtureRequest, db: Database, line_sandbox: SandboxServer, shop: Shop
) -> ChannelSetup:
    """A channel of ``shop`` wired to the hub; in a fast test, to no hub at all."""
    hub_url = NO_HUB_URL if is_fast(request) else request.getfixturevalue("hub_url")
    return make_channel(db, line_sandbox, hub_url, shop)
