"""Fixtures for the sandbox LINE platform: a real server, a webhook receiver, the SDK, specs."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from linebot.v3.messaging import ApiClient, Configuration, MessagingApi, MessagingApiBlob
from sandbox_line_specs import SPECS_DIR, LineSpecs, load_specs

from sandbox.line.models import SandboxChannel, SandboxUser
from sandbox.line.server import SandboxServer
from sandbox.line.state import SandboxState
from sandbox.line.webhooks import sign

CHANNEL_ID = "2000000001"
CHANNEL_SECRET = "8c4b1f1e0d6a4e0f9b8f2b6c3d4e5f60"
ACCESS_TOKEN = "sandbox-channel-access-token"
LOGIN_CHANNEL_ID = "2000000002"
LOGIN_CHANNEL_SECRET = "0f9e8d7c6b5a49382716a5b4c3d2e1f0"


class FakeClock:
    """The sandbox's clock, moved by hand to expire tokens and retry keys."""

    def __init__(self) -> None:
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
        return f"http://{host}:{port}/webhooks/line/{CHANNEL_ID}"


@pytest.fixture
def hub() -> Iterator[HubReceiver]:
    """A running webhook receiver that records every POST and answers ``status_code``."""
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
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield receiver
    server.shutdown()
    server.server_close()


@pytest.fixture
def line_specs() -> LineSpecs:
    """LINE's OpenAPI specs; fidelity tests skip when ../shared is not checked out."""
    specs = load_specs()
    if specs is None:
        pytest.skip(f"LINE specs not found at {SPECS_DIR}: fidelity tests need ../shared")
    return specs


@pytest.fixture
def clock() -> FakeClock:
    """The clock of the ``line`` sandbox."""
    return FakeClock()


@pytest.fixture
def line(clock: FakeClock) -> Iterator[SandboxServer]:
    """A running sandbox; on teardown, all its API traffic must match LINE's specs."""
    with SandboxServer(SandboxState(clock=clock), webhook_timeout=5.0) as server:
        yield server
        specs = load_specs()
        if specs is not None:
            for call in server.state.api_calls():
                specs.validate_call(call)


@pytest.fixture
def channel(line: SandboxServer, hub: HubReceiver) -> SandboxChannel:
    """A channel whose webhooks go to the ``hub`` receiver."""
    return line.state.add_channel(
        CHANNEL_ID,
        CHANNEL_SECRET,
        ACCESS_TOKEN,
        login_channel_id=LOGIN_CHANNEL_ID,
        login_channel_secret=LOGIN_CHANNEL_SECRET,
        webhook_url=hub.url,
    )


@pytest.fixture
def friend(line: SandboxServer, channel: SandboxChannel) -> SandboxUser:
    """A user who follows ``channel``."""
    user = line.state.add_user(display_name="Hanako", picture_url="https://example.com/h.png")
    line.simulate.follow(user.user_id)
    return user


@pytest.fixture
def api_client(line: SandboxServer, channel: SandboxChannel) -> Iterator[ApiClient]:
    """The official SDK's client pointed at the sandbox."""
    configuration = Configuration(access_token=channel.access_token, host=line.url)
    with ApiClient(configuration) as client:
        yield client


@pytest.fixture
def messaging_api(api_client: ApiClient) -> MessagingApi:
    """``MessagingApi`` of the official SDK, talking to the sandbox."""
    return MessagingApi(api_client)


@pytest.fixture
def messaging_blob_api(api_client: ApiClient) -> MessagingApiBlob:
    """``MessagingApiBlob`` (the api-data.line.me paths), talking to the same sandbox."""
    return MessagingApiBlob(api_client)
