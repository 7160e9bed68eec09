"""ASGI middleware giving every response an ``x-line-request-id`` and logging API traffic."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any

from sandbox.line import ids

REQUEST_ID_HEADER = "x-line-request-id"
# The sandbox's own control and page routes are not platform traffic.
UNRECORDED_PREFIXES = ("/sandbox", "/liff/")
# What a call whose answer is lost (``SandboxState.lose_answers``) gets instead of its answer.
LOST_ANSWER = b'{"message":"Internal server error"}'
# Bodies are kept for inspection; rich menu images need not be (the log holds 2,000 calls).
MAX_RECORDED_BODY = 64 * 1024

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


@dataclass(frozen=True)
class ApiCall:
    """One platform API request and its response, as seen on the wire."""

    method: str
    path: str
    query: str
    request_id: str
    status_code: int
    request_headers: dict[str, str]
    request_body: bytes
    response_headers: dict[str, str]
    response_body: bytes

    def request_json(self) -> Any:
        """The request body decoded as JSON, or None when it is not JSON."""
        return _json_or_none(self.request_body)

    def response_json(self) -> Any:
        """The response body decoded as JSON, or None when it is not JSON."""
        return _json_or_none(self.response_body)

    def to_dict(self) -> dict[str, Any]:
        """Return the call as ``GET /sandbox/api-calls`` shows it (bodies decoded when JSON)."""
        return {
            "method": self.method,
            "path": self.path,
            "query": self.query,
            "request_id": self.request_id,
            "status_code": self.status_code,
            "retry_key": self.request_headers.get("x-line-retry-key"),
            "request": self.request_json(),
            "response": self.response_json(),
        }


class RecorderMiddleware:
    """Assign the request id before the app runs; log each platform call with ``record``."""

    def __init__(self, app: ASGIApp, record: Callable[[ApiCall], None]) -> None:
        self.app = app
        self.record = record

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Handle one ASGI connection scope."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = ids.new_request_id()
        scope.setdefault("state", {})["request_id"] = request_id
        # Read the whole body first, so it is logged even when the app never reads it (a 401).
        request_body = await _read_body(receive)
        response_chunks: list[bytes] = []
        start: dict[str, Any] = {}
        replayed = False
        losing = False

        async def replay_body() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": request_body, "more_body": False}

        async def send_with_id(message: Message) -> None:
            nonlocal losing
            if message["type"] == "http.response.start":
                # An injected delay holds the answer after the request was processed.
                delay = scope["state"].get("response_delay", 0.0)
                if delay:
                    await asyncio.sleep(delay)
                headers = list(message.get("headers", []))
                losing = _lost(scope, message["status"])
                if losing:
                    message["status"] = 500
                    headers = [(b"content-type", b"application/json")]
                    headers.append((b"content-length", str(len(LOST_ANSWER)).encode()))
                headers.append((REQUEST_ID_HEADER.encode(), request_id.encode()))
                message["headers"] = headers
                start.update(status=message["status"], headers=headers)
            elif message["type"] == "http.response.body":
                if losing:
                    message = {**message, "body": LOST_ANSWER if not response_chunks else b""}
                response_chunks.append(message.get("body", b""))
            await send(message)

        await self.app(scope, replay_body, send_with_id)
        if not scope["path"].startswith(UNRECORDED_PREFIXES) and start:
            self.record(
                ApiCall(
                    method=scope["method"],
                    path=scope["path"],
                    query=scope.get("query_string", b"").decode(),
                    request_id=request_id,
                    status_code=start["status"],
                    request_headers=_headers(scope.get("headers", [])),
                    request_body=request_body[:MAX_RECORDED_BODY],
                    response_headers=_headers(start["headers"]),
                    response_body=b"".join(response_chunks)[:MAX_RECORDED_BODY],
                )
            )


def _lost(scope: Scope, status: int) -> bool:
    """Whether this call's answer is to be lost: it succeeded, and a loss was queued for it."""
    return 200 <= status < 300 and bool(scope["state"].get("lose_answer"))


async def _read_body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _headers(raw: list[tuple[bytes, bytes]]) -> dict[str, str]:
    return {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in raw}


def _json_or_none(raw: bytes) -> Any:
    try:
        return json.loads(raw) if raw else None
    except ValueError:
        return None
