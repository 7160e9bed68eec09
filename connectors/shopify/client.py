"""The GraphQL Admin API through ``ShopifyAPI``, made safe to use from any thread, paced by the
store's query-cost bucket, and with every failure classified once.

``ShopifyAPI`` keeps its session (site, token) in class-level thread-local state and has no
retry. Each request here activates the session, builds the library's ``GraphQL`` object and
clears the session again under a lock, so no vendor state outlives a call or leaks between
connections; the request itself then runs outside the lock. The library's ``execute`` waits on
the socket forever and prints error bodies to stdout, so requests go through ``_TimedGraphQL``,
the same request with a timeout.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import shopify

from connectors.errors import FatalError, RetriableError

log = logging.getLogger(__name__)

DEFAULT_API_VERSION = "2026-10"
# A GraphQL page or bulk-operation poll answers in well under a second; a store that has not
# answered in this long is down, and the attempt is retried (the sync's lease is 10 minutes).
DEFAULT_TIMEOUT_SECONDS = 30.0
_SESSION_LOCK = threading.Lock()


@dataclass(slots=True)
class ThrottleStatus:
    """The bucket as the last response reported it, and when."""

    maximum: float
    available: float
    restore_rate: float
    observed_at: float

    def available_at(self, now: float) -> float:
        return min(self.maximum, self.available + (now - self.observed_at) * self.restore_rate)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Exponential backoff with full jitter, bounded in attempts and delay."""

    attempts: int = 6
    base_delay: float = 0.5
    max_delay: float = 30.0

    def delay(self, attempt: int, rng: random.Random) -> float:
        return rng.uniform(0, min(self.max_delay, self.base_delay * 2**attempt))


def reinstall_hint(status: int) -> str:
    return (
        f"Shopify answered {status}: the access token was rejected: reinstall the app or "
        "update the credential with `tsunagu connector add shopify … "
        "--credential access_token=shpat_…`"
    )


class ShopifyClient:
    """Runs GraphQL queries against one store; returns ``data`` or raises a ConnectorError."""

    def __init__(
        self,
        *,
        base_url: str,
        access_token: str,
        api_version: str = DEFAULT_API_VERSION,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
    ) -> None:
        if not base_url.startswith(("https://", "http://")):
            raise FatalError(f"a Shopify store URL starts with https://, not {base_url!r}")
        self.site = f"{base_url.rstrip('/')}/admin/api/{api_version}"
        self._token = access_token
        self._timeout = timeout
        self.retry = retry or RetryPolicy()
        self._sleep = sleep
        self._clock = clock
        self._rng = rng or random.SystemRandom()
        self.throttle: ThrottleStatus | None = None
        self.throttled_count = 0
        self.paced_seconds = 0.0
        self._last_requested = 0

    def execute(
        self, query: str, variables: dict[str, Any] | None = None, *, cost: int = 1
    ) -> dict[str, Any]:
        """The query's ``data``; ``cost`` is its expected cost, used to pace before sending."""
        last: Exception | None = None
        for attempt in range(self.retry.attempts):
            if isinstance(last, Throttled):
                cost = max(cost, last.requested)
            self._pace(cost)
            try:
                return self._attempt(query, variables or {})
            except RetriableError as exc:
                last = exc
                wait = self._retry_delay(exc, attempt)
                log.info("shopify: %s; retrying in %.1fs", exc, wait)
                self._sleep(wait)
        raise RetriableError(
            f"Shopify kept failing after {self.retry.attempts} attempts: {last}"
        ) from last

    def _attempt(self, query: str, variables: dict[str, Any]) -> dict[str, Any]:
        raw = self._post(query, variables)
        try:
            body = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise RetriableError(f"Shopify answered something that is not JSON: {exc}") from exc
        self._observe(body.get("extensions"))
        errors = body.get("errors")
        if errors:
            self._raise_for(errors)
        return body.get("data") or {}

    def _post(self, query: str, variables: dict[str, Any]) -> str:
        with _SESSION_LOCK:
            shopify.ShopifyResource.set_site(self.site)
            shopify.ShopifyResource.set_headers({"X-Shopify-Access-Token": self._token})
            try:
                graphql = _TimedGraphQL()
                graphql.headers = dict(graphql.headers)
            finally:
                shopify.ShopifyResource.clear_session()
        try:
            return graphql.execute(query, variables, timeout=self._timeout)
        except urllib.error.HTTPError as exc:
            raise _classify_http(exc) from exc
        except TimeoutError as exc:
            raise RetriableError(
                f"Shopify at {self.site} did not answer within {self._timeout:g} s"
            ) from exc
        except (urllib.error.URLError, OSError) as exc:
            raise RetriableError(f"could not reach Shopify at {self.site}: {exc}") from exc

    def _raise_for(self, errors: Any) -> None:
        if not isinstance(errors, list):
            raise FatalError(f"Shopify refused the query: {errors}")
        codes = {(e.get("extensions") or {}).get("code") for e in errors if isinstance(e, dict)}
        messages = "; ".join(str(e.get("message", e)) for e in errors if isinstance(e, dict))
        if "THROTTLED" in codes:
            self.throttled_count += 1
            raise Throttled(f"throttled: {messages}", requested=self._last_requested)
        if "ACCESS_DENIED" in codes:
            raise FatalError(f"Shopify denied access: {messages} (check the app's scopes)")
        raise FatalError(f"Shopify refused the query: {messages}")

    def _observe(self, extensions: dict[str, Any] | None) -> None:
        cost = (extensions or {}).get("cost") or {}
        self._last_requested = int(cost.get("requestedQueryCost") or 0)
        status = cost.get("throttleStatus")
        if status:
            self.throttle = ThrottleStatus(
                maximum=float(status["maximumAvailable"]),
                available=float(status["currentlyAvailable"]),
                restore_rate=float(status["restoreRate"]),
                observed_at=self._clock(),
            )

    def _pace(self, cost: int) -> None:
        """Wait until the bucket holds the query's cost, rather than be throttled."""
        if self.throttle is None:
            return
        missing = cost - self.throttle.available_at(self._clock())
        if missing > 0 and self.throttle.restore_rate > 0:
            wait = missing / self.throttle.restore_rate
            self.paced_seconds += wait
            self._sleep(wait)

    def _retry_delay(self, exc: RetriableError, attempt: int) -> float:
        if isinstance(exc, Throttled):
            # Pacing before the next attempt waits for the bucket; this only adds jitter.
            return self._rng.uniform(0, self.retry.base_delay)
        retry_after = getattr(exc, "retry_after", None)
        if retry_after is not None:
            return min(self.retry.max_delay, retry_after)
        return self.retry.delay(attempt, self._rng)


class _TimedGraphQL(shopify.GraphQL):
    """The library's GraphQL request (endpoint, headers, body), with a socket timeout."""

    def execute(
        self,
        query: str,
        variables: dict[str, Any] | None = None,
        operation_name: str | None = None,
        *,
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
    ) -> str:
        headers = self.merge_headers(
            {"Accept": "application/json", "Content-Type": "application/json"}, self.headers
        )
        body = {"query": query, "variables": variables, "operationName": operation_name}
        # The endpoint is the client's own site, whose scheme ShopifyClient checked.
        data = json.dumps(body).encode("utf-8")
        request = urllib.request.Request(self.endpoint, data, headers)  # noqa: S310
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            return response.read().decode("utf-8")


class Throttled(RetriableError):
    """HTTP 200 with ``errors[].extensions.code == "THROTTLED"``; ``requested`` is the cost the
    query needs available before it can run."""

    def __init__(self, message: str, *, requested: int) -> None:
        super().__init__(message, status=200)
        self.requested = requested


class HttpRetriable(RetriableError):
    def __init__(self, message: str, *, status: int, retry_after: float | None) -> None:
        super().__init__(message, status=status)
        self.retry_after = retry_after


def _classify_http(exc: urllib.error.HTTPError) -> Exception:
    status = exc.code
    if status in (401, 403):
        return FatalError(reinstall_hint(status), status=status)
    if status == 429 or status >= 500:
        header = exc.headers.get("Retry-After") if exc.headers else None
        retry_after = float(header) if header and header.replace(".", "", 1).isdigit() else None
        return HttpRetriable(f"Shopify answered {status}", status=status, retry_after=retry_after)
    return FatalError(f"Shopify answered {status}: {exc.reason}", status=status)
