"""Pre-signed LINE webhook requests: one text-message event each, every one a new event id.

Requests are built before the clock starts, so the load generator only writes bytes: neither
JSON encoding nor HMAC signing is measured. They are written as raw HTTP/1.1 requests separated
by NUL bytes, one file per load-generator thread, consumed in order.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from connectors.line.webhook import signature

SEPARATOR = b"\0"


@dataclass(frozen=True, slots=True)
class Target:
    """Where the requests go and what signs them."""

    host: str
    port: int
    line_channel_id: str
    channel_secret: str
    bot_user_id: str

    @property
    def path(self) -> str:
        return f"/webhooks/line/{self.line_channel_id}"


def event_id(prefix: str, n: int) -> str:
    """The ``webhookEventId`` of request ``n``: unique per run, sortable, ULID-sized (26)."""
    return f"{prefix}{n:0{26 - len(prefix)}d}"


def body(
    target: Target,
    webhook_event_id: str,
    *,
    now_ms: int,
    user_id: str | None = None,
    text: str = "明日の予約を17時に変更できますか?",
    reply_token: str | None = None,
) -> bytes:
    """A single text-message webhook body, shaped like the ones LINE sends (~600 bytes): from
    ``user_id`` (a new random user if None), with a random reply token unless given one."""
    event = {
        "type": "message",
        "message": {
            "type": "text",
            "id": str(secrets.randbelow(10**18)),
            "quoteToken": secrets.token_urlsafe(32),
            "text": text,
        },
        "webhookEventId": webhook_event_id,
        "deliveryContext": {"isRedelivery": False},
        "timestamp": now_ms,
        "source": {"type": "user", "userId": user_id or "U" + secrets.token_hex(16)},
        "replyToken": reply_token or secrets.token_hex(16),
        "mode": "active",
    }
    payload = {"destination": target.bot_user_id, "events": [event]}
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()


def raw_request(target: Target, content: bytes) -> bytes:
    """The exact bytes of one signed HTTP/1.1 POST (keep-alive)."""
    head = (
        f"POST {target.path} HTTP/1.1\r\n"
        f"Host: {target.host}:{target.port}\r\n"
        "User-Agent: LineBotWebhook/2.0\r\n"
        "Content-Type: application/json; charset=utf-8\r\n"
        f"x-line-signature: {signature(target.channel_secret, content)}\r\n"
        f"Content-Length: {len(content)}\r\n"
        "\r\n"
    )
    return head.encode() + content


def requests(target: Target, prefix: str, count: int) -> Iterator[bytes]:
    """``count`` signed requests with event ids ``prefix``-0 … ``prefix``-(count-1)."""
    now_ms = int(time.time() * 1000)
    for n in range(count):
        yield raw_request(target, body(target, event_id(prefix, n), now_ms=now_ms))


def write_request_files(
    target: Target, prefix: str, count: int, directory: Path, parts: int
) -> list[Path]:
    """Write ``count`` requests into ``parts`` files; request ``n`` goes to file ``n % parts``.

    Returns the files; file ``i`` is named ``<prefix>.<i>`` (the wrk script's naming).
    """
    return write_parts(requests(target, prefix, count), prefix, directory, parts)


def write_parts(requests: Iterable[bytes], prefix: str, directory: Path, parts: int) -> list[Path]:
    """Write raw requests into ``parts`` files ``<prefix>.<i>``; request ``n`` goes to file
    ``n % parts``."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = [directory / f"{prefix}.{i}" for i in range(parts)]
    handles = [path.open("wb") for path in paths]
    try:
        for n, request in enumerate(requests):
            handle = handles[n % parts]
            handle.write(request)
            handle.write(SEPARATOR)
    finally:
        for handle in handles:
            handle.close()
    return paths


def read_request_file(path: Path) -> list[bytes]:
    """The requests of one file, in order."""
    return [r for r in path.read_bytes().split(SEPARATOR) if r]


def sent_event_ids(prefix: str, parts: int, sent_per_part: list[int]) -> set[str]:
    """The event ids of the first ``sent_per_part[i]`` requests of each file ``i``."""
    ids: set[str] = set()
    for part, sent in enumerate(sent_per_part):
        ids.update(event_id(prefix, part + k * parts) for k in range(sent))
    return ids
