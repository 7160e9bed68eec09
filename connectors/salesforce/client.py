"""The Salesforce REST client the hub uses: simple-salesforce behind a classifier.

Failures are classified once, here: ``REQUEST_LIMIT_EXCEEDED`` pauses the connection
(:class:`LimitExhausted`), 429/5xx and network errors are retried with backoff and then
reported as retriable, an expired session logs in again once, other 4xx are fatal.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from functools import partial
from typing import Any, TypeVar

import requests
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceError

from connectors.errors import FatalError, LimitExhausted, RetriableError
from connectors.salesforce.auth import fetch_token, http_session
from connectors.salesforce.settings import SalesforceSettings
from core.clock import utcnow

log = logging.getLogger(__name__)

T = TypeVar("T")

COLLECTION_LIMIT = 200
_JITTER = random.SystemRandom()


class SalesforceClient:
    """Queries and upserts against one org, logging in lazily and re-using the session."""

    def __init__(
        self,
        settings: SalesforceSettings,
        *,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.settings = settings
        self._sleep = sleep
        self._clock = clock
        self._session, self._adapter = http_session(settings)
        self._api: Salesforce | None = None
        self.api_usage: str | None = None

    def query_pages(self, soql: str, *, include_deleted: bool) -> Iterator[dict[str, Any]]:
        """Each batch of a query (``queryAll`` when ``include_deleted``), following
        ``nextRecordsUrl`` until ``done``."""
        headers = {"Sforce-Query-Options": f"batchSize={self.settings.batch_size}"}
        page = self._call(
            lambda sf: sf.query(soql, include_deleted=include_deleted, headers=headers)
        )
        while True:
            yield page
            next_url = page.get("nextRecordsUrl")
            if page.get("done", True) or not next_url:
                return
            page = self._call(
                partial(
                    Salesforce.query_more,
                    next_records_identifier=next_url,
                    identifier_is_url=True,
                    include_deleted=include_deleted,
                    headers=headers,
                )
            )

    def upsert_collection(
        self, sobject: str, external_id_field: str, records: list[dict[str, Any]]
    ) -> list[dict[str, Any]]:
        """sObject Collections upsert by external id (up to 200): one result per record."""
        if len(records) > COLLECTION_LIMIT:
            raise ValueError(f"at most {COLLECTION_LIMIT} records per collection request")
        body = {
            "allOrNone": False,
            "records": [{"attributes": {"type": sobject}, **r} for r in records],
        }
        path = f"composite/sobjects/{sobject}/{external_id_field}"
        result = self._call(lambda sf: sf.restful(path, method="PATCH", json=body))
        return list(result or [])

    def close(self) -> None:
        self._session.close()

    def _login(self) -> Salesforce:
        if self._api is None:
            token = fetch_token(self._session, self._adapter, self.settings, now=self._clock())
            self._api = Salesforce(
                instance_url=token.instance_url,
                session_id=token.access_token,
                session=self._session,
                version=self.settings.api_version,
            )
        return self._api

    def _call(self, operation: Callable[[Salesforce], T]) -> T:
        """Run one API operation with the retry and classification policy."""
        attempt = 0
        logged_in_again = False
        while True:
            try:
                api = self._login()
                result = operation(api)
                self._note_usage(api)
                return result
            except SalesforceError as exc:
                code, message = _first_error(exc.content)
                if exc.status == 403 and code == "REQUEST_LIMIT_EXCEEDED":
                    raise self._limit_exhausted(message) from exc
                if exc.status == 401 and not logged_in_again:
                    # The access token expired or was revoked: log in once more.
                    self._api, logged_in_again = None, True
                    continue
                if exc.status == 429 or exc.status >= 500:
                    failure = f"Salesforce answered {exc.status} {code}: {message}"
                else:
                    raise FatalError(
                        f"Salesforce refused the request ({exc.status} {code}): {message}",
                        status=exc.status,
                    ) from exc
            except requests.RequestException as exc:
                failure = f"Salesforce unreachable: {exc}"
            attempt += 1
            if attempt > self.settings.max_retries:
                raise RetriableError(f"{failure} (gave up after {attempt} tries)", status=503)
            delay = self.settings.retry_backoff_seconds * 2 ** (attempt - 1)
            log.warning("%s; retry %d in %.1f s", failure, attempt, delay)
            self._sleep(delay * _JITTER.uniform(0.5, 1.0))

    def _note_usage(self, api: Salesforce) -> None:
        usage = api.api_usage.get("api-usage")
        if usage is not None:
            self.api_usage = f"{usage.used}/{usage.total}"

    def _limit_exhausted(self, message: str) -> LimitExhausted:
        resume_at = self._clock() + timedelta(seconds=self.settings.limit_pause_seconds)
        return LimitExhausted(
            f"Salesforce API request limit exceeded ({message}); the org's 24-hour allocation "
            f"is used up — syncs pause until {resume_at:%Y-%m-%d %H:%M} UTC",
            resume_at=resume_at,
            status=403,
        )


def _first_error(content: Any) -> tuple[str, str]:
    """(errorCode, message) of Salesforce's ``[{"message", "errorCode"}]`` error array."""
    if isinstance(content, list) and content and isinstance(content[0], dict):
        first = content[0]
        return str(first.get("errorCode", "")), str(first.get("message", ""))
    return "", str(content)[:300]
