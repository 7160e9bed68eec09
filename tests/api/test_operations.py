"""Health, readiness, metrics and request ids: what an operator's tooling reads."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import httpx
import pytest

from core.logging import JsonFormatter
from sandbox.line.server import SandboxServer
from tests.factories import ChannelSetup
from tests.waiting import wait_for


@pytest.fixture
def access_log() -> Iterator[io.StringIO]:
    """The access log's lines, formatted as the hub writes them."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    access = logging.getLogger("tsunagu.access")
    level = access.level
    access.setLevel(logging.INFO)
    access.addHandler(handler)
    yield stream
    access.removeHandler(handler)
    access.setLevel(level)


def test_healthz_and_readyz_answer_ok_with_the_database_and_worker_up(hub_url: str) -> None:
    assert httpx.get(f"{hub_url}/healthz").json() == {"status": "ok"}
    ready = httpx.get(f"{hub_url}/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"database": "ok", "broker": "ok"}


def test_every_response_carries_a_request_id_and_echoes_the_callers(hub_url: str) -> None:
    generated = httpx.get(f"{hub_url}/healthz").headers["x-request-id"]
    echoed = httpx.get(f"{hub_url}/healthz", headers={"X-Request-ID": "trace-42"})
    assert len(generated) == 32
    assert echoed.headers["x-request-id"] == "trace-42"


def test_errors_are_json_with_a_name_and_what_to_do(hub_url: str) -> None:
    response = httpx.get(f"{hub_url}/api/admin/v1/friends")
    assert response.status_code == 401
    body = response.json()
    assert body["error"] == "Unauthorized" and "Bearer" in body["detail"]


def test_metrics_count_webhooks_by_outcome_and_show_processing_lag(
    hub_url: str, line_sandbox: SandboxServer, channel: ChannelSetup
) -> None:
    user = line_sandbox.state.add_user()
    line_sandbox.simulate.follow(user.user_id, channel_id=channel.channel_id)
    httpx.post(channel.webhook_url, content=b"{}", headers={"x-line-signature": "forged"})

    text = httpx.get(f"{hub_url}/metrics").text

    assert 'tsunagu_webhook_requests_total{outcome="accepted",source="line"}' in text
    assert 'tsunagu_webhook_requests_total{outcome="InvalidSignature",source="line"}' in text
    assert "tsunagu_event_processing_lag_seconds" in text
    assert (
        'tsunagu_http_request_seconds_bucket{le="0.05",route="/webhooks/line/{channel_id}"}' in text
    )


def test_every_request_is_one_json_access_log_line_with_its_request_id(
    hub_url: str, channel: ChannelSetup, access_log: io.StringIO
) -> None:
    headers = {"x-line-signature": "forged", "X-Request-ID": "trace-log-1"}
    httpx.post(channel.webhook_url, content=b"{}", headers=headers)
    httpx.get(f"{hub_url}/healthz")

    lines = wait_for(
        lambda: len(lines := access_log.getvalue().splitlines()) == 2 and lines,
        what="two access log lines",
    )
    entries = {entry["msg"]: entry for entry in map(json.loads, lines)}
    webhook = entries[f"POST /webhooks/line/{channel.channel_id} 401"]
    assert (webhook["logger"], webhook["level"]) == ("tsunagu.access", "info")
    assert (webhook["request_id"], webhook["status"]) == ("trace-log-1", 401)
    assert webhook["duration_ms"] >= 0
    assert len(entries["GET /healthz 200"]["request_id"]) == 32
