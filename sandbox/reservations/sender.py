"""Posting reservation webhooks to the hub, as a reservation system or Cal.com would.

Every delivery is recorded (what was sent, what the hub answered) so tests and the demo can
show it. Bodies are sent byte-for-byte as signed.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from typing import Any

import httpx

from sandbox.reservations.signing import calcom_signature, v1_signature

UNSIGNED = "no-secret-provided"


@dataclass(frozen=True, slots=True)
class Delivery:
    """One webhook request and the hub's answer."""

    url: str
    headers: dict[str, str]
    body: bytes
    status: int
    response: dict[str, Any] | str


def encode(document: dict[str, Any]) -> bytes:
    """Compact UTF-8 JSON, as senders put it on the wire (Japanese text unescaped)."""
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()


class WebhookSender:
    """An HTTP client that signs and posts webhooks and keeps a log of the deliveries."""

    def __init__(self, *, timeout: float = 10.0) -> None:
        self._client = httpx.Client(timeout=timeout)
        self._lock = threading.Lock()
        self._log: list[Delivery] = []

    @property
    def deliveries(self) -> list[Delivery]:
        with self._lock:
            return list(self._log)

    def post(self, url: str, body: bytes, headers: dict[str, str]) -> Delivery:
        """Post ``body`` as is and record the answer."""
        sent = {"Content-Type": "application/json", **headers}
        response = self._client.post(url, content=body, headers=sent)
        try:
            answer: dict[str, Any] | str = response.json()
        except ValueError:
            answer = response.text
        delivery = Delivery(url, sent, body, response.status_code, answer)
        with self._lock:
            self._log.append(delivery)
        return delivery

    def send_v1(
        self,
        url: str,
        event: dict[str, Any],
        *,
        secrets: list[str],
        timestamp: int | None = None,
        body: bytes | None = None,
    ) -> Delivery:
        """Deliver a ``reservation.v1`` event, signed with every secret given (rotation)."""
        raw = body if body is not None else encode(event)
        stamp = int(time.time()) if timestamp is None else timestamp
        signature = ", ".join(v1_signature(secret, stamp, raw) for secret in secrets)
        headers = {
            "X-Tsunagu-Event-Id": str(event.get("event_id", "")),
            "X-Tsunagu-Timestamp": str(stamp),
            "X-Tsunagu-Signature": signature,
        }
        return self.post(url, raw, headers)

    def send_calcom(self, url: str, document: dict[str, Any], *, secret: str | None) -> Delivery:
        """Deliver a Cal.com webhook; without a secret Cal.com marks it ``no-secret-provided``."""
        raw = encode(document)
        signature = calcom_signature(secret, raw) if secret else UNSIGNED
        return self.post(url, raw, {"X-Cal-Signature-256": signature})

    def close(self) -> None:
        self._client.close()
