"""Fixtures for the sandbox LINE platform: a real server, a webhook receiver, the SDK, specs."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from linebot.v3.messaging import ApiClient, Configuration, MessagingApi, MessagingApiBlob

from sandbox.line.models import SandboxChannel, SandboxUser
from sandbox.line.server import SandboxServer
from sandbox.line.state import SandboxState
from tests.sandbox.line_specs import LineSpecs
from tests.sandbox.line_support import (
    ACCESS_TOKEN,
    CHANNEL_ID,
    CHANNEL_SECRET,
    LOGIN_CHANNEL_ID,
    LOGIN_CHANNEL_SECRET,
    TLS_CONTEXT,
    FakeClock,
    HubReceiver,
    start_hub,
)


@pytest.fixture(scope="session")
def _hub_receiver() -> Iterator[HubReceiver]:
    receiver = start_hub()
    yield receiver
    receiver.stop()


@pytest.fixture
def hub(_hub_receiver: HubReceiver) -> HubReceiver:
    """A running webhook receiver standing in for the hub, empty at the start of each test."""
    _hub_receiver.reset()
    return _hub_receiver


@pytest.fixture(scope="session")
def traffic_specs(request: pytest.FixtureRequest) -> LineSpecs | None:
    """The specs every test's sandbox traffic is checked against, through ``line_specs``:
    without them the tests of the sandbox's behaviour still run, unchecked (in CI they fail)."""
    try:
        return request.getfixturevalue("line_specs")
    except pytest.skip.Exception:
        return None


@pytest.fixture(scope="session")
def _clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(scope="session")
def _server(_clock: FakeClock) -> Iterator[SandboxServer]:
    with SandboxServer(SandboxState(clock=_clock), webhook_timeout=5.0) as server:
        yield server


@pytest.fixture
def clock(_clock: FakeClock) -> FakeClock:
    """The clock of the ``line`` sandbox, set to the real time at the start of each test."""
    _clock.reset()
    return _clock


@pytest.fixture
def line(
    _server: SandboxServer, clock: FakeClock, traffic_specs: LineSpecs | None
) -> Iterator[SandboxServer]:
    """A running sandbox, emptied for each test; afterwards its traffic must match the specs."""
    _server.state.reset()
    yield _server
    if traffic_specs is not None:
        for call in _server.state.api_calls():
            traffic_specs.validate_call(call)


@pytest.fixture
def http(line: SandboxServer) -> Iterator[httpx.Client]:
    """A plain HTTP client for the sandbox's own endpoints and raw platform calls."""
    with httpx.Client(base_url=line.url, verify=TLS_CONTEXT) as client:
        yield client


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
