"""Request-body checks the Messaging API applies, answered with LINE's 400 bodies."""

from __future__ import annotations

import re
from typing import Any

from sandbox.line import ids
from sandbox.line.errors import LineApiError, invalid_body
from sandbox.line.images import check_image_message

MAX_MESSAGES = 5
MAX_MULTICAST_RECIPIENTS = 500
MAX_TEXT_UTF16_UNITS = 5000
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
# LINE hands out quote tokens only for messages that can be quoted later.
QUOTABLE_TYPES = frozenset({"text", "textV2", "sticker", "image", "video"})


def utf16_length(text: str) -> int:
    """Count ``text`` in UTF-16 code units, as LINE's 5,000-character limit does."""
    return len(text.encode("utf-16-le")) // 2


def require_object(body: Any) -> dict[str, Any]:
    """Return ``body`` when it is a JSON object, else LINE's 400."""
    if not isinstance(body, dict):
        raise LineApiError(400, "The request body has 1 error(s)")
    return body


def check_messages(body: dict[str, Any]) -> list[dict[str, Any]]:
    """Check ``messages``: 1-5 message objects of known types, texts within 5,000 units."""
    messages = body.get("messages")
    if not isinstance(messages, list):
        raise invalid_body(("messages", "must be specified"))
    if not 1 <= len(messages) <= MAX_MESSAGES:
        raise invalid_body(("messages", f"Size must be between 1 and {MAX_MESSAGES}"))
    for index, message in enumerate(messages):
        _check_message(index, message)
    return messages


def _check_message(index: int, message: Any) -> None:
    prop = f"messages[{index}]"
    if not isinstance(message, dict) or message.get("type") not in MESSAGE_TYPES:
        raise invalid_body((f"{prop}.type", "Invalid message type"))
    if message["type"] == "image":
        check_image_message(prop, message)
    if message["type"] in ("text", "textV2"):
        text = message.get("text")
        if not isinstance(text, str) or not text:
            raise invalid_body((f"{prop}.text", "must be specified"))
        if utf16_length(text) > MAX_TEXT_UTF16_UNITS:
            raise invalid_body(
                (f"{prop}.text", f"Length must be between 0 and {MAX_TEXT_UTF16_UNITS}")
            )


_UNIT_NAME = re.compile(r"^[a-zA-Z0-9_]{1,30}$")


def check_aggregation_units(body: dict[str, Any]) -> str | None:
    """Check ``customAggregationUnits``: at most one name of 1-30 letters, digits or ``_``."""
    units = body.get("customAggregationUnits")
    if units is None:
        return None
    if not isinstance(units, list) or len(units) > 1:
        raise invalid_body(("customAggregationUnits", "Size must be between 0 and 1"))
    if not units:
        return None
    if not isinstance(units[0], str) or not _UNIT_NAME.match(units[0]):
        raise invalid_body(("customAggregationUnits[0]", "Invalid aggregation unit name"))
    return units[0]


def check_recipient(body: dict[str, Any]) -> str:
    """Check a push's ``to``: a user ID (groups and rooms are not emulated)."""
    to = body.get("to")
    if not isinstance(to, str) or not to:
        raise invalid_body(("to", "must be specified"))
    if not ids.is_user_id(to):
        raise LineApiError(
            400, "The property, 'to', in the request body is invalid (line: -, column: -)"
        )
    return to


def check_recipients(body: dict[str, Any], *, limit: int = MAX_MULTICAST_RECIPIENTS) -> list[str]:
    """Check a list of user IDs (multicast ``to``): 1-``limit`` well-formed IDs."""
    return check_user_id_list(body, "to", limit=limit)


def check_user_id_list(body: dict[str, Any], prop: str, *, limit: int) -> list[str]:
    """Check a list of 1-``limit`` user IDs under ``prop``."""
    values = body.get(prop)
    if not isinstance(values, list):
        raise invalid_body((prop, "must be specified"))
    if not 1 <= len(values) <= limit:
        raise invalid_body((prop, f"Size must be between 1 and {limit}"))
    for index, value in enumerate(values):
        if not isinstance(value, str) or not ids.is_user_id(value):
            raise LineApiError(
                400,
                f"The property, '{prop}[{index}]', in the request body is invalid "
                "(line: -, column: -)",
            )
    return values


def check_retry_key(retry_key: str | None) -> str | None:
    """Return the ``X-Line-Retry-Key`` when absent or a UUID, else LINE's 400."""
    if retry_key is not None and not ids.is_uuid(retry_key):
        raise LineApiError(400, "The value of the X-Line-Retry-Key header is invalid")
    return retry_key
