"""Messaging API sends: reply, push, multicast, narrowcast, broadcast — and who receives them.

Each operation runs under the state's lock, so a retry key is checked and accepted atomically.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from typing import Any

from sandbox.line import ids
from sandbox.line.errors import LineApiError
from sandbox.line.models import ReceivedMessage, SandboxChannel
from sandbox.line.state import SandboxState
from sandbox.line.validation import (
    QUOTABLE_TYPES,
    check_aggregation_units,
    check_messages,
    check_recipient,
    check_recipients,
    check_retry_key,
    require_object,
)


@dataclass(frozen=True)
class SendRequest:
    """One authenticated send: the channel, the endpoint (operationId) and request metadata."""

    channel: SandboxChannel
    endpoint: str
    request_id: str
    retry_key: str | None = None
    aggregation_unit: str | None = None


def reply(state: SandboxState, request: SendRequest, body: Any) -> dict[str, Any]:
    """Answer ``POST /v2/bot/message/reply``: free of quota, token single use."""
    with state.lock:
        body = require_object(body)
        messages = check_messages(body)
        token = body.get("replyToken")
        if not isinstance(token, str) or not token:
            raise LineApiError(400, "Invalid reply token")
        user_id = state.use_reply_token(request.channel, token)
        recipients = [user_id] if request.channel.is_following(user_id) else []
        return {"sentMessages": _deliver(state, request, recipients, messages)}


def push(state: SandboxState, request: SendRequest, body: Any) -> dict[str, Any]:
    """Answer ``POST /v2/bot/message/push``: a blocked user is accepted but not delivered."""
    with state.lock:
        retry_key = check_retry_key(request.retry_key)
        body = require_object(body)
        to = check_recipient(body)
        messages = check_messages(body)
        request = _with_unit(state, request, body)
        _check_not_repeated(state, request)
        if to not in state.users:
            raise LineApiError(400, "Failed to send messages")
        recipients = [to] if request.channel.is_following(to) else []
        _charge_quota(state, request.channel, len(recipients))
        sent = _deliver(state, request, recipients, messages)
        _accept_retry_key(state, request, retry_key, sent)
        return {"sentMessages": sent}


def multicast(state: SandboxState, request: SendRequest, body: Any) -> dict[str, Any]:
    """Answer ``POST /v2/bot/message/multicast`` (1-500 user IDs)."""
    with state.lock:
        retry_key = check_retry_key(request.retry_key)
        body = require_object(body)
        messages = check_messages(body)
        to = check_recipients(body)
        request = _with_unit(state, request, body)
        _check_not_repeated(state, request)
        recipients = [u for u in dict.fromkeys(to) if request.channel.is_following(u)]
        _charge_quota(state, request.channel, len(recipients))
        _deliver(state, request, recipients, messages)
        _accept_retry_key(state, request, retry_key, [])
        return {}


def broadcast(state: SandboxState, request: SendRequest, body: Any) -> dict[str, Any]:
    """Answer ``POST /v2/bot/message/broadcast``: every current friend receives the messages."""
    with state.lock:
        retry_key = check_retry_key(request.retry_key)
        body = require_object(body)
        messages = check_messages(body)
        request = _with_unit(state, request, body)
        _check_not_repeated(state, request)
        recipients = followers(request.channel)
        _charge_quota(state, request.channel, len(recipients))
        _deliver(state, request, recipients, messages)
        _accept_retry_key(state, request, retry_key, [])
        return {}


def narrowcast(state: SandboxState, request: SendRequest, body: Any) -> dict[str, Any]:
    """Answer ``POST /v2/bot/message/narrowcast`` (202).

    Audiences and demographic filters are not emulated: every current friend is a target,
    capped by ``limit.max``. The send completes at once, so progress reads ``succeeded``.
    """
    with state.lock:
        retry_key = check_retry_key(request.retry_key)
        body = require_object(body)
        messages = check_messages(body)
        request = _with_unit(state, request, body)
        _check_not_repeated(state, request)
        recipients = followers(request.channel)
        limit = body.get("limit")
        if isinstance(limit, dict) and isinstance(limit.get("max"), int):
            recipients = recipients[: limit["max"]]
        _charge_quota(state, request.channel, len(recipients))
        _deliver(state, request, recipients, messages)
        _accept_retry_key(state, request, retry_key, [])
        accepted = iso_time(state.clock())
        state.narrowcasts[request.request_id] = {
            "phase": "succeeded",
            "successCount": len(recipients),
            "failureCount": 0,
            "targetCount": len(recipients),
            "acceptedTime": accepted,
            "completedTime": accepted,
        }
        return {}


def narrowcast_progress(state: SandboxState, request_id: str) -> dict[str, Any]:
    """Answer ``GET /v2/bot/message/progress/narrowcast?requestId=...``."""
    with state.lock:
        progress = state.narrowcasts.get(request_id)
    if progress is None:
        raise LineApiError(404, "Not found")
    return progress


def quota(channel: SandboxChannel) -> dict[str, Any]:
    """Answer ``GET /v2/bot/message/quota``."""
    if channel.monthly_quota is None:
        return {"type": "none"}
    return {"type": "limited", "value": channel.monthly_quota}


def followers(channel: SandboxChannel) -> list[str]:
    """Return the channel's current friends, in the order they followed."""
    following = [(uid, f) for uid, f in channel.friends.items() if f.following]
    following.sort(key=lambda item: item[1].followed_at or 0.0)
    return [uid for uid, _ in following]


def _check_not_repeated(state: SandboxState, request: SendRequest) -> None:
    if request.retry_key is not None:
        state.retry_keys.check(request.channel.channel_id, request.retry_key, state.clock())


def _with_unit(state: SandboxState, request: SendRequest, body: dict[str, Any]) -> SendRequest:
    """The request with its aggregation unit, counted among the channel's units this month."""
    unit = check_aggregation_units(body)
    if unit is None:
        return request
    used = request.channel.aggregation_units.setdefault(state.month(), [])
    if unit not in used:
        used.append(unit)
    return replace(request, aggregation_unit=unit)


def aggregation_usage(state: SandboxState, channel: SandboxChannel) -> list[str]:
    """The unit names the channel used this month."""
    with state.lock:
        return list(channel.aggregation_units.get(state.month(), []))


def _accept_retry_key(
    state: SandboxState,
    request: SendRequest,
    retry_key: str | None,
    sent: list[dict[str, Any]],
) -> None:
    if retry_key is not None:
        state.retry_keys.accept(
            request.channel.channel_id, retry_key, request.request_id, state.clock(), sent
        )


def _charge_quota(state: SandboxState, channel: SandboxChannel, recipients: int) -> None:
    """Count one message per recipient; refuse the whole request when it would exceed quota."""
    usage = state.current_usage(channel)
    if channel.monthly_quota is not None and usage + recipients > channel.monthly_quota:
        raise LineApiError(429, "You have reached your monthly limit.")
    channel.usage = usage + recipients


def _deliver(
    state: SandboxState,
    request: SendRequest,
    recipients: list[str],
    messages: list[dict[str, Any]],
) -> list[dict[str, Any]]:
    """Put the messages in each recipient's inbox; return ``sentMessages`` for the first."""
    now = state.clock()
    sent: list[dict[str, Any]] = []
    for index, user_id in enumerate(recipients or [None]):
        for message in messages:
            message_id = ids.new_message_id()
            if index == 0:
                sent.append(_sent_message(message_id, message))
            if user_id is None:
                continue
            state.received.append(
                ReceivedMessage(
                    user_id=user_id,
                    channel_id=request.channel.channel_id,
                    endpoint=request.endpoint,
                    request_id=request.request_id,
                    retry_key=request.retry_key,
                    message_id=message_id,
                    message=message,
                    received_at=now,
                    aggregation_unit=request.aggregation_unit,
                )
            )
    return sent


def _sent_message(message_id: str, message: dict[str, Any]) -> dict[str, Any]:
    sent = {"id": message_id}
    if message.get("type") in QUOTABLE_TYPES:
        sent["quoteToken"] = ids.new_token(43)
    return sent


def iso_time(seconds: float) -> str:
    """Format a time as LINE does: ISO 8601 in UTC with milliseconds."""
    millis = int(seconds * 1000) % 1000
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{millis:03d}Z"
