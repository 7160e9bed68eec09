"""Request plumbing shared by the routers: the state, request ids, auth, JSON bodies.

The dependencies are coroutines though none of them awaits anything: FastAPI runs a plain
``def`` dependency on its thread pool, and three thread hops per API call were a third of the
emulator's CPU per push. Each only reads the app's state or takes its lock for a moment.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import Depends, Request

from sandbox.line.errors import LineApiError, missing_authorization
from sandbox.line.models import SandboxChannel
from sandbox.line.simulate import Simulator
from sandbox.line.state import SandboxState


async def get_state(request: Request) -> SandboxState:
    """Return the platform state the app was created with."""
    return request.app.state.sandbox


async def get_simulator(request: Request) -> Simulator:
    """Return the simulator bound to the app's state."""
    return request.app.state.simulator


async def request_id(request: Request) -> str:
    """Return this request's ``x-line-request-id`` (set by the app's middleware)."""
    return request.state.request_id


def bearer_token(request: Request) -> str | None:
    """Return the bearer token from ``Authorization``, or None when absent."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def channel_for(endpoint: str) -> Callable[[Request], Awaitable[SandboxChannel]]:
    """Build a dependency: authenticate the channel, then apply failures and rate limits."""

    async def dependency(request: Request) -> SandboxChannel:
        state: SandboxState = request.app.state.sandbox
        token = bearer_token(request)
        if token is None:
            raise missing_authorization()
        channel = state.channel_for_token(token)
        admission = state.admit(channel, endpoint)
        request.state.response_delay = admission.delay
        request.state.lose_answer = admission.lose_answer
        return channel

    return dependency


def api_channel(endpoint: str) -> Any:
    """Declare the authenticated channel of an endpoint (an operationId) as a dependency."""
    return Depends(channel_for(endpoint))


async def json_body(request: Request) -> Any:
    """Parse the request body as JSON, answering LINE's 400 when it is not JSON."""
    raw = await request.body()
    try:
        return json.loads(raw)
    except ValueError:
        raise LineApiError(400, "The request body could not be parsed as JSON") from None
