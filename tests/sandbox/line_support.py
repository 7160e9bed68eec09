"""Test support for the sandbox LINE platform: channel constants, a hand-moved clock, and a
tiny HTTP server standing in for the hub's webhook endpoint."""

from __future__ import annotations

import json
import ssl
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from sandbox.line.webhooks import sign

CHANNEL_ID = "2000000001"
CHANNEL_SECRET = "8c4b1f1e0d6a4e0f9b8f2b6c3d4e5f60"
ACCESS_TOKEN = "sandbox-channel-access-token"
LOGIN_CHANNEL_ID = "2000000002"
LOGIN_CHANNEL_SECRET = "0f9e8d7c6b5a49382716a5b4c3d2e1f0"
# Shared by the tests' HTTP clients: creating a TLS context loads the CA bundle every time.
TLS_CONTEXT = ssl.create_default_context()


class FakeClock:
    """The sandbox's clock, moved by hand to expire tokens and retry keys."""

    def __init__(self) -> None:
        self.now = time.time()

    def reset(self) -> None:
        """Go back to the real time."""
        self.now = time.time()

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        """Move the clock forward."""
        self.now += seconds


@dataclass
class ReceivedWebhook:
    """One POST the hub stand-in received."""

    headers: dict[str, str]
    body: bytes

    @property
    def payload(self) -> dict:
        """The decoded JSON body."""
        return json.loads(self.body)

    def signature_is_valid(self, secret: str) -> bool:
        """Check ``x-line-signature`` the way the hub must: on the raw bytes."""
        return self.headers.get("x-line-signature") == sign(secret, self.body)


@dataclass
class HubReceiver:
    """A tiny HTTP server standing in for the hub's webhook endpoint."""

    server: ThreadingHTTPServer
    received: list[ReceivedWebhook] = field(default_factory=list)
    status_code: int = 200

    @property
    def url(self) -> str:
        """The webhook URL to configure on the channel."""
        host, port = self.server.server_address[:2]
        assert isinstance(host, str)
        return f"http://{host}:{port}/webhooks/line/{CHANNEL_ID}"

    def reset(self) -> None:
        """Forget what was received and answer 200 again."""
        self.received.clear()
        self.status_code = 200

    def stop(self) -> None:
        """Shut the receiver down."""
        self.server.shutdown()
        self.server.server_close()


def start_hub() -> HubReceiver:
    """Start a webhook receiver that records every POST and answers its ``status_code``."""
    receiver: HubReceiver

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", 0)))
            headers = {k.lower(): v for k, v in self.headers.items()}
            receiver.received.append(ReceivedWebhook(headers, body))
            self.send_response(receiver.status_code)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    receiver = HubReceiver(server)
    threading.Thread(
        target=server.serve_forever, args=(0.05,), name="tsunagu-test-receiver", daemon=True
    ).start()
    return receiver
