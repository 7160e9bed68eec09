"""LINE webhook wire format: signature check on the raw bytes and envelope validation."""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


def signature(channel_secret: str, body: bytes) -> str:
    """``x-line-signature`` for a body: base64(HMAC-SHA256(channel secret, body))."""
    digest = hmac.new(channel_secret.encode(), body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def signature_is_valid(channel_secret: str, body: bytes, provided: str) -> bool:
    """Compare the provided signature with the expected one in constant time."""
    return hmac.compare_digest(signature(channel_secret, body).encode(), provided.encode())


# 9999-12-31T23:59:59.999Z, the last millisecond a datetime can hold.
MAX_TIMESTAMP_MS = 253_402_300_799_999


class WebhookEvent(BaseModel):
    """The fields every LINE webhook event carries; the rest is kept as received."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    type: str = Field(min_length=1, max_length=64)
    timestamp: int = Field(ge=0, le=MAX_TIMESTAMP_MS)
    mode: Literal["active", "standby"]
    webhook_event_id: str = Field(alias="webhookEventId", min_length=1, max_length=128)


class WebhookBody(BaseModel):
    """``{"destination": …, "events": […]}``."""

    model_config = ConfigDict(extra="allow")

    destination: str = Field(min_length=1, max_length=64)
    events: list[WebhookEvent]
