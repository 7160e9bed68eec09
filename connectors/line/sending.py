"""Sending LINE messages through the official SDK, with every answer classified once, here.

``push`` and ``multicast`` carry the caller's ``X-Line-Retry-Key``: LINE accepts a key at most
once in 24 hours and answers a repeat with 409 and ``x-line-accepted-request-id``, which is
reported as accepted. Failures raise :class:`SendFailure` with a :class:`FailureKind` that says
what the caller should do: retry the same request later, stop for good, pause the channel, or
hold the messages until the monthly quota allows them.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import urllib3
from linebot.v3.messaging import (
    ApiClient,
    ApiException,
    ApiResponse,
    Configuration,
    MessagingApi,
    MulticastRequest,
    PushMessageRequest,
    ReplyMessageRequest,
)

from connectors.line.checked import CheckedRequests
from connectors.line.client import ChannelCredentials

MONTHLY_LIMIT_MESSAGE = "You have reached your monthly limit."
MULTICAST_MAX_USERS = 500
Message = dict[str, Any]

# The SDK's generated calls without their ``validate_arguments`` wrapper, which would validate
# the request model a second time on every call: requests are validated by the SDK's models
# once per content (``connectors.line.checked``) and handed over as the JSON they make.
_PUSH = MessagingApi.push_message_with_http_info.raw_function
_MULTICAST = MessagingApi.multicast_with_http_info.raw_function
_REPLY = MessagingApi.reply_message_with_http_info.raw_function


class FailureKind(enum.StrEnum):
    # 429, 5xx, timeouts, connection errors: the same request (same key) may succeed later.
    RETRIABLE = "retriable"
    # Any other 4xx: LINE will refuse it again; the reason says why.
    FATAL = "fatal"
    # 401/403: the channel's token is revoked or lacks rights; nothing of it can be sent.
    CHANNEL = "channel"
    # 429 "monthly limit": nothing was accepted; wait for next month or a bigger plan.
    QUOTA = "quota"


class SendFailure(Exception):
    """A send LINE did not accept, with its HTTP status, LINE's reason and request id."""

    def __init__(
        self, kind: FailureKind, reason: str, *, status: int | None, request_id: str | None
    ) -> None:
        super().__init__(reason)
        self.kind = kind
        self.reason = reason
        self.status = status
        self.request_id = request_id


@dataclass(frozen=True, slots=True)
class Accepted:
    """LINE accepted the request (200), or had already accepted its retry key (409)."""

    status: int
    request_id: str | None
    duplicate: bool = False


@dataclass(frozen=True, slots=True)
class Quota:
    """The channel's monthly message limit (None: unlimited) and what it used this month."""

    limit: int | None
    consumption: int

    @property
    def remaining(self) -> int | None:
        return None if self.limit is None else max(0, self.limit - self.consumption)


def _header(headers: Any, name: str) -> str | None:
    if not headers:
        return None
    value = headers.get(name)
    return str(value) if value else None


def _reason(exc: ApiException) -> str:
    """LINE's error message and details, as one line."""
    body = exc.body
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    return f"HTTP {exc.status}: {body or exc.reason}".strip()


def classify(exc: ApiException) -> Accepted | SendFailure:
    """Map an SDK error to acceptance (409 with the original request id) or a failure kind."""
    status = exc.status or 0
    request_id = _header(exc.headers, "x-line-request-id")
    accepted_id = _header(exc.headers, "x-line-accepted-request-id")
    if status == 409 and accepted_id:
        return Accepted(status=409, request_id=accepted_id, duplicate=True)
    reason = _reason(exc)
    if status == 429 and MONTHLY_LIMIT_MESSAGE.rstrip(".") in reason:
        kind = FailureKind.QUOTA
    elif status == 429 or status >= 500 or status == 0:
        kind = FailureKind.RETRIABLE
    elif status in (401, 403):
        kind = FailureKind.CHANNEL
    else:
        kind = FailureKind.FATAL
    return SendFailure(kind, reason, status=status, request_id=request_id)


class LineSender:
    """Push, multicast, reply and quota calls for one channel, over one connection pool.

    Thread-safe: workers share one sender per channel, so connections are reused.
    """

    def __init__(self, credentials: ChannelCredentials, *, timeout: float = 10.0) -> None:
        configuration = Configuration(
            access_token=credentials.access_token, host=credentials.api_url
        )
        self._client = ApiClient(configuration)
        self._api = MessagingApi(self._client)
        self._timeout = timeout
        self._pushes = CheckedRequests(PushMessageRequest, "to")
        self._multicasts = CheckedRequests(MulticastRequest, "to")
        self._replies = CheckedRequests(ReplyMessageRequest, "replyToken")

    def close(self) -> None:
        """Release the connection pool."""
        self._client.close()

    def push(
        self,
        to: str,
        messages: Sequence[Message],
        *,
        retry_key: str,
        aggregation_unit: str | None = None,
        content_key: str | None = None,
    ) -> Accepted:
        """Send ``messages`` to one user (counted under a custom aggregation unit, if given).

        ``content_key`` names the messages and unit (the outbox's content hash): the SDK's
        models check a content once, not once per push (see ``connectors.line.checked``).
        """
        body = self._pushes.body(to, _content(messages, aggregation_unit), key=content_key)
        return self._send(
            lambda: _PUSH(
                self._api,
                body,
                x_line_retry_key=retry_key,
                _request_timeout=self._timeout,
                _preload_content=False,
            )
        )

    def multicast(
        self,
        to: Sequence[str],
        messages: Sequence[Message],
        *,
        retry_key: str,
        aggregation_unit: str | None = None,
        content_key: str | None = None,
    ) -> Accepted:
        """Send the same ``messages`` to 1-500 users in one request."""
        if not 1 <= len(to) <= MULTICAST_MAX_USERS:
            raise ValueError(f"a multicast goes to 1 to {MULTICAST_MAX_USERS} users, not {len(to)}")
        # The user ids (plain strings from the outbox) are not validated one by one by the
        # model: 500 of them would cost a third of the call's CPU.
        body = self._multicasts.body(
            list(to), _content(messages, aggregation_unit), key=content_key, sample=list(to[:1])
        )
        return self._send(
            lambda: _MULTICAST(
                self._api,
                body,
                x_line_retry_key=retry_key,
                _request_timeout=self._timeout,
                _preload_content=False,
            )
        )

    def reply(
        self, reply_token: str, messages: Sequence[Message], *, content_key: str | None = None
    ) -> Accepted:
        """Answer an event with its (single-use) reply token; replies are free of quota."""
        body = self._replies.body(reply_token, _content(messages, None), key=content_key)
        return self._send(
            lambda: _REPLY(self._api, body, _request_timeout=self._timeout, _preload_content=False)
        )

    def quota(self) -> Quota:
        """This month's message limit and consumption (``GET /v2/bot/message/quota[...]``)."""
        try:
            limit = self._api.get_message_quota(_request_timeout=self._timeout)
            used = self._api.get_message_quota_consumption(_request_timeout=self._timeout)
        except ApiException as exc:
            outcome = classify(exc)
            raise outcome if isinstance(outcome, SendFailure) else _unexpected(exc) from exc
        except (OSError, urllib3.exceptions.HTTPError) as exc:
            raise _unreachable(exc) from exc
        value = limit.value if limit.type == "limited" else None
        return Quota(limit=value, consumption=used.total_usage)

    def _send(self, call: Callable[[], ApiResponse]) -> Accepted:
        try:
            response = call()
        except ApiException as exc:
            outcome = classify(exc)
            if isinstance(outcome, SendFailure):
                raise outcome from exc
            return outcome
        except (OSError, urllib3.exceptions.HTTPError) as exc:
            raise _unreachable(exc) from exc
        return Accepted(
            status=response.status_code,
            request_id=_header(response.headers, "x-line-request-id"),
        )


def _content(messages: Sequence[Message], aggregation_unit: str | None) -> dict[str, Any]:
    content: dict[str, Any] = {"messages": list(messages)}
    if aggregation_unit is not None:
        content["customAggregationUnits"] = [aggregation_unit]
    return content


def _unreachable(exc: Exception) -> SendFailure:
    """Timeouts and refused connections: LINE may or may not have the request; retry it."""
    return SendFailure(
        FailureKind.RETRIABLE, f"LINE unreachable: {exc}", status=None, request_id=None
    )


def _unexpected(exc: ApiException) -> SendFailure:
    return SendFailure(FailureKind.FATAL, _reason(exc), status=exc.status, request_id=None)
