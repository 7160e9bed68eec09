"""HMAC checks shared by the reservation webhooks: secrets with rotation, constant-time compares."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Mapping
from typing import Any

from core.errors import NotSetUp


def webhook_secrets(credentials: Mapping[str, Any]) -> list[str]:
    """The connection's webhook secrets: ``secrets`` (a list, during rotation) or ``secret``."""
    found = credentials.get("secrets") or credentials.get("secret")
    values = [found] if isinstance(found, str) else list(found or [])
    values = [v for v in values if isinstance(v, str) and v]
    if not values:
        raise NotSetUp(
            "this connection does not take webhooks yet",
            hint="this reservation connection has no webhook secret: add one with "
            "`--credential secret=…` (or a `secrets` list while rotating)",
        )
    return values


def header(headers: Mapping[str, str], name: str) -> str | None:
    """A header by name, whatever the case the sender used."""
    wanted = name.lower()
    for key, value in headers.items():
        if key.lower() == wanted:
            return value
    return None


def hmac_hex(secret: str, message: bytes) -> str:
    """Lowercase hex HMAC-SHA256 of ``message``."""
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def any_matches(expected: Iterable[str], provided: Iterable[str]) -> bool:
    """True when a provided signature equals an expected one; every pair is compared in
    constant time, so how many matched, and where, does not leak through timing."""
    matched = False
    candidates = [p.strip().lower() for p in provided]
    for value in expected:
        for candidate in candidates:
            matched |= hmac.compare_digest(value.encode(), candidate.encode())
    return matched


def digest_key(*parts: str) -> str:
    """A fixed-length dedup key from parts of a body that carries no event id."""
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()
