"""The servers the benchmark starts, each in its own uvicorn process (``--factory``).

- ``hub_app``: the hub exactly as ``tsunagu serve`` builds it (``build_hub``), configured from
  ``TSUNAGU_*`` variables, with the same logging set-up (one JSON access-log line per request).
  With ``TSUNAGU_BROKER_URL`` set it publishes a nudge per new event, as in production.
- ``hub_intake_app``: the same hub in the embedded runtime with its worker stopped before it
  serves: intake only. Each nudge is dropped, as during a worker shutdown (its per-event log
  line silenced), and the events stay ``pending`` for a sweeper.
- ``bare_app``: the baseline, a FastAPI endpoint on the same path that only reads the body.
- ``canned_server``: a raw asyncio server answering every request with a fixed 200, to measure
  how fast the load generator itself can go.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from typing import cast

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from config import get_settings
from core.logging import configure_logging
from tsunagu.hub import build_hub, settle_heap


def hub_app() -> FastAPI:
    """The hub's API, built the way ``tsunagu serve`` builds it."""
    settings = get_settings()
    configure_logging(settings.log_level, settings.log_format)
    app = build_hub(settings).start().app
    settle_heap()
    return app


def hub_intake_app() -> FastAPI:
    """The hub's API with no event processed while it serves (embedded worker stopped)."""
    settings = get_settings()
    configure_logging(settings.log_level, settings.log_format)
    hub = build_hub(settings)
    if hub.worker is None:
        raise RuntimeError("hub_intake_app is the embedded runtime: unset TSUNAGU_BROKER_URL")
    hub.worker.stop()
    # A stopped worker logs every nudge it drops: one line per event that is not intake's.
    logging.getLogger("jobs.embedded").setLevel(logging.WARNING)
    settle_heap()
    return hub.app


def bare_app() -> FastAPI:
    """The same route on a bare FastAPI app: read the body, answer 200, nothing else."""
    app = FastAPI()

    @app.post("/webhooks/line/{channel_id}")
    async def line_webhook(channel_id: str, request: Request) -> JSONResponse:
        await request.body()
        return JSONResponse({"received": 1, "stored": 1})

    return app


_CANNED = (
    b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 26\r\n\r\n"
    b'{"received":1,"stored":1}\n'
)


class _Canned(asyncio.Protocol):
    """Answers each complete request (head + Content-Length body) with the canned response."""

    def __init__(self) -> None:
        self.buffer = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = self.buffer[:end].lower()
            start = head.find(b"content-length:")
            length = 0 if start < 0 else int(head[start + 15 :].split(b"\r\n", 1)[0])
            if len(self.buffer) < end + 4 + length:
                return
            self.buffer = self.buffer[end + 4 + length :]
            self.transport.write(_CANNED)


async def _serve_canned(port: int) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(_Canned, "127.0.0.1", port, backlog=1024)
    async with server:
        await server.serve_forever()


def canned_server(port: int) -> None:
    """Serve canned 200s on 127.0.0.1:``port`` until killed (uvloop when installed)."""
    try:
        import uvloop
    except ImportError:
        asyncio.run(_serve_canned(port))
        return
    uvloop.run(_serve_canned(port))


if __name__ == "__main__":
    canned_server(int(sys.argv[1]))
