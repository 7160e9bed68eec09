"""A Shopify connection's options (see the connector's docstring for what each one does)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from connectors.options import ConnectorOptions
from connectors.shopify.client import DEFAULT_API_VERSION, DEFAULT_TIMEOUT_SECONDS


class ShopifyOptions(ConnectorOptions):
    api_version: str = DEFAULT_API_VERSION
    # The connector caps a page so that it costs at most 1,000 query points.
    page_size: int = Field(25, ge=1)
    lookback_seconds: float = Field(300, ge=0)
    backfill: Literal["pages", "bulk"] = "pages"
    bulk_page_size: int = Field(1000, ge=1)
    bulk_poll_seconds: float = Field(2.0, gt=0)
    bulk_timeout_seconds: float = Field(3600, gt=0)
    request_timeout_seconds: float = Field(DEFAULT_TIMEOUT_SECONDS, gt=0)
    collections_refresh_hours: float = Field(6, ge=0)
    # "namespace.key" (empty: none).
    member_number_metafield: str | None = Field(None, pattern=r"^([^.\s]+\.\S+)?$")
    member_number_tag_prefix: str | None = None
    line_user_id_attribute: str = "line_user_id"
    # The store, when the connection has no --base-url: <store>.myshopify.com.
    shop_domain: str | None = None
