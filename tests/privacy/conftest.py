"""A sandbox Shopify store, and one person who lived a little with the shop."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from core.db import Database
from core.tenancy import Shop
from sandbox.line.server import SandboxServer
from sandbox.shopify.server import ShopifyServer
from sandbox.shopify.state import ShopifyState
from tests.factories import ChannelSetup
from tests.privacy.support import Journey, live


@pytest.fixture
def shopify_server(tmp_path) -> Iterator[ShopifyServer]:
    with ShopifyServer(ShopifyState(bulk_dir=tmp_path)) as server:
        yield server


@pytest.fixture
def journey(
    db: Database,
    line_sandbox: SandboxServer,
    channel: ChannelSetup,
    shop: Shop,
    shopify_server: ShopifyServer,
    hub_url: str,
) -> Journey:
    return live(db, line_sandbox, channel, shop, shopify_server, hub_url)
