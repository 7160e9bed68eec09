"""Identifiers shaped like the LINE platform's: user IDs, ULIDs, message IDs, tokens."""

from __future__ import annotations

import random
import re
import secrets
import time
import uuid

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
USER_ID_PATTERN = re.compile(r"^U[0-9a-f]{32}$")
UUID_PATTERN = re.compile(
    r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
)
# Message ids name messages; they guard nothing (content is fetched with the channel's token),
# so they come from a generator seeded once rather than from the operating system per id: a
# multicast to 500 users takes 500 of them, and a system call each was a third of the
# sandbox's time.
_MESSAGE_IDS = random.Random(secrets.randbits(128))


def new_user_id() -> str:
    """Return a LINE-style user ID: ``U`` followed by 32 lowercase hex digits."""
    return "U" + secrets.token_hex(16)


def new_ulid(timestamp_ms: int | None = None) -> str:
    """Return a ULID (26 Crockford base32 characters), as LINE uses for ``webhookEventId``."""
    millis = int(time.time() * 1000) if timestamp_ms is None else timestamp_ms
    value = (millis << 80) | secrets.randbits(80)
    chars = []
    for _ in range(26):
        chars.append(_CROCKFORD[value & 0x1F])
        value >>= 5
    return "".join(reversed(chars))


def new_message_id() -> str:
    """Return a numeric message ID string, like the ones LINE assigns."""
    return str(_MESSAGE_IDS.randrange(10**17, 10**18))


def new_request_id() -> str:
    """Return a request ID for the ``x-line-request-id`` header."""
    return str(uuid.uuid4())


def new_token(length: int = 32) -> str:
    """Return an opaque URL-safe token of roughly ``length`` characters."""
    return secrets.token_urlsafe(length)[:length]


def new_rich_menu_id() -> str:
    """Return a rich menu ID: ``richmenu-`` followed by 32 hex digits."""
    return "richmenu-" + secrets.token_hex(16)


def is_user_id(value: str) -> bool:
    """Tell whether ``value`` is shaped like a LINE user ID."""
    return bool(USER_ID_PATTERN.match(value))


def is_uuid(value: str) -> bool:
    """Tell whether ``value`` is a hyphenated hexadecimal UUID, as retry keys must be."""
    return bool(UUID_PATTERN.match(value))
