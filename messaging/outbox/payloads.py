"""Rendered message sets: checked against LINE's rules when planned, hashed for batching."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from core.db import insert
from core.errors import Unprocessable
from messaging.outbox.models import DeliveryContent

MAX_MESSAGES = 5
MAX_TEXT_UTF16_UNITS = 5000
# Message object types the Messaging API accepts in push, multicast and reply.
MESSAGE_TYPES = frozenset(
    {
        "text",
        "textV2",
        "sticker",
        "image",
        "video",
        "audio",
        "location",
        "imagemap",
        "template",
        "flex",
        "coupon",
    }
)
# Required properties per type (LINE's concrete message schemas).
_REQUIRED: dict[str, tuple[str, ...]] = {
    "text": ("text",),
    "textV2": ("text",),
    "sticker": ("packageId", "stickerId"),
    "image": ("originalContentUrl", "previewImageUrl"),
    "video": ("originalContentUrl", "previewImageUrl"),
    "audio": ("originalContentUrl", "duration"),
    "location": ("title", "address", "latitude", "longitude"),
    "imagemap": ("baseUrl", "altText", "baseSize", "actions"),
    "template": ("altText", "template"),
    "flex": ("altText", "contents"),
    "coupon": ("couponId",),
}

Message = dict[str, Any]


class InvalidMessages(Unprocessable):
    """The messages break one of LINE's rules; nothing was planned. Fix the template."""


def utf16_length(text: str) -> int:
    """Length in UTF-16 code units, as LINE counts its 5,000-character limit."""
    return len(text.encode("utf-16-le")) // 2


def validate(messages: Sequence[Message]) -> list[Message]:
    """Return the messages as a list if LINE would accept them, else raise InvalidMessages."""
    if not 1 <= len(messages) <= MAX_MESSAGES:
        raise InvalidMessages(f"a send carries 1 to {MAX_MESSAGES} messages, not {len(messages)}")
    for index, message in enumerate(messages):
        _validate_one(index, message)
    return [dict(m) for m in messages]


def _validate_one(index: int, message: Message) -> None:
    kind = message.get("type") if isinstance(message, dict) else None
    if kind not in MESSAGE_TYPES:
        raise InvalidMessages(f"messages[{index}]: unknown message type {kind!r}")
    missing = [name for name in _REQUIRED[kind] if message.get(name) in (None, "")]
    if missing:
        raise InvalidMessages(f"messages[{index}] ({kind}) needs {', '.join(missing)}")
    if kind in ("text", "textV2"):
        length = utf16_length(str(message["text"]))
        if length > MAX_TEXT_UTF16_UNITS:
            raise InvalidMessages(
                f"messages[{index}]: text is {length} UTF-16 units, LINE allows "
                f"{MAX_TEXT_UTF16_UNITS}"
            )


def content_hash(messages: Sequence[Message], aggregation_unit: str | None = None) -> str:
    """A stable hash of what is sent: identical content batches into one multicast.

    A custom aggregation unit is part of it: the same messages counted under two units are two
    requests.
    """
    document: Any = list(messages)
    if aggregation_unit is not None:
        document = {"messages": document, "aggregation_unit": aggregation_unit}
    canonical = json.dumps(document, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def store(
    session: Session,
    contents: Mapping[str, Sequence[Message]],
    *,
    now: datetime,
    aggregation_unit: str | None = None,
) -> None:
    """Store each message set once, by its hash (contents never change); one whose payload
    was erased or purged since is written again."""
    if not contents:
        return
    statement = insert(session, DeliveryContent)
    statement = statement.on_conflict_do_update(
        index_elements=[DeliveryContent.content_hash],
        set_={"payload": statement.excluded.payload, "purged_at": None},
        where=DeliveryContent.purged_at.is_not(None),
    )
    session.execute(
        statement,
        [
            {
                "content_hash": digest,
                "payload": list(body),
                "aggregation_unit": aggregation_unit,
                "created_at": now,
            }
            for digest, body in contents.items()
        ],
    )
