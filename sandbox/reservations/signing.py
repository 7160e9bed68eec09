"""How the senders sign, written from the published contracts (not shared with the hub)."""

from __future__ import annotations

import hashlib
import hmac


def v1_signature(secret: str, timestamp: int, body: bytes) -> str:
    """``v1=<hex HMAC-SHA256(secret, "{timestamp}.{body}")>`` of the generic contract."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"v1={digest.hexdigest()}"


def calcom_signature(secret: str, body: bytes) -> str:
    """Cal.com's ``X-Cal-Signature-256``: lowercase hex HMAC-SHA256 of the raw body."""
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
