"""In-memory state of the sandbox Salesforce org, shared by the HTTP app and Python callers.

Every public method takes the state's lock. Tests set records up here (with explicit
``SystemModstamp`` values when they need them) and read back what the hub wrote.
"""

from __future__ import annotations

import base64
import itertools
import json
import secrets
import string
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from sandbox.salesforce import soql
from sandbox.salesforce.errors import ApiError, OAuthError, limit_exceeded, session_invalid
from sandbox.salesforce.schema import SObjectType, standard_types

JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
API_WINDOW_SECONDS = 24 * 3600
MAX_ASSERTION_LIFETIME_SECONDS = 300
COLLECTION_LIMIT = 200
_BASE62 = string.digits + string.ascii_uppercase + string.ascii_lowercase


def format_datetime(value: datetime) -> str:
    """Salesforce's REST datetime format: ``2026-11-22T06:00:00.000+0000``."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + (
        f"{value.microsecond // 1000:03d}+0000"
    )


@dataclass(slots=True)
class ConnectedApp:
    consumer_key: str
    public_key_pem: bytes | None
    consumer_secret: str | None
    run_as: str | None


@dataclass(slots=True)
class ApiCall:
    method: str
    path: str
    status: int


@dataclass(slots=True)
class _Cursor:
    endpoint: str
    rows: list[dict[str, Any]]


class SalesforceState:
    """One org: connected apps and users, sObjects and their records, API usage and faults."""

    def __init__(
        self,
        *,
        api_limit: int = 100_000,
        max_batch_size: int = 2000,
        token_ttl_seconds: int = 7200,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.api_limit = api_limit
        self.max_batch_size = max_batch_size
        self.token_ttl_seconds = token_ttl_seconds
        self.clock = clock
        self.instance_url = "http://127.0.0.1"
        self.audiences = {"https://login.salesforce.com", "https://test.salesforce.com"}
        self._lock = threading.RLock()
        self._apps: dict[str, ConnectedApp] = {}
        self._users: set[str] = set()
        self._tokens: dict[str, tuple[str, float]] = {}
        self._types = standard_types()
        self._records: dict[str, dict[str, dict[str, Any]]] = {name: {} for name in self._types}
        self._cursors: dict[str, _Cursor] = {}
        self._usage: deque[float] = deque()
        self._faults: deque[ApiError] = deque()
        self._calls_before_faults = 0
        self._ids = itertools.count(1)
        self.calls: list[ApiCall] = []

    # Set-up

    def register_app(
        self,
        consumer_key: str,
        *,
        public_key_pem: bytes | None = None,
        consumer_secret: str | None = None,
        run_as: str | None = None,
    ) -> ConnectedApp:
        """A connected app: a certificate's public key for JWT bearer, a secret and run-as user
        for client credentials."""
        with self._lock:
            app = ConnectedApp(consumer_key, public_key_pem, consumer_secret, run_as)
            self._apps[consumer_key] = app
            return app

    def add_user(self, username: str) -> None:
        with self._lock:
            self._users.add(username)

    def define_field(
        self, sobject: str, name: str, kind: str = "string", *, external_id: bool = False
    ) -> None:
        """Add a custom field (``Member_Number__c``…), optionally an external id."""
        with self._lock:
            sobject_type = self._type(sobject)
            sobject_type.fields[name] = kind
            if external_id:
                sobject_type.external_ids.add(name)

    def define_object(self, name: str, fields: dict[str, str], *, key_prefix: str = "a01") -> None:
        """Add a custom object (``Booking__c``) with its fields."""
        with self._lock:
            self._types[name] = SObjectType(name, key_prefix, dict(fields))
            self._records[name] = {}

    def fail_next(
        self, status: int, *, count: int = 1, code: str | None = None, after: int = 0
    ) -> None:
        """``count`` API calls fail with ``status`` (503, 500, 429…), once ``after`` more calls
        have succeeded (to break a run in its middle)."""
        default = {429: "REQUEST_LIMIT_EXCEEDED", 500: "UNKNOWN_EXCEPTION"}
        error_code = code or default.get(status, "SERVER_UNAVAILABLE")
        with self._lock:
            self._calls_before_faults = after
            for _ in range(count):
                self._faults.append(ApiError(status, error_code, f"injected failure {status}"))

    def expire_tokens(self) -> None:
        """Every issued access token stops working (a session timeout)."""
        with self._lock:
            self._tokens.clear()

    # OAuth

    def token_by_jwt(self, assertion: str) -> dict[str, Any]:
        """The JWT bearer flow: verify the RS256 assertion with the app's certificate."""
        try:
            header_b64, claims_b64, signature_b64 = assertion.split(".")
            header = json.loads(_unb64(header_b64))
            claims = json.loads(_unb64(claims_b64))
            signature = _unb64(signature_b64)
        except (ValueError, TypeError) as exc:
            raise OAuthError("invalid_grant", "invalid assertion") from exc
        with self._lock:
            app = self._apps.get(str(claims.get("iss")))
            if app is None:
                raise OAuthError("invalid_client_id", "client identifier invalid")
            if header.get("alg") != "RS256" or app.public_key_pem is None:
                raise OAuthError("invalid_grant", "invalid assertion")
            key = load_pem_public_key(app.public_key_pem)
            assert isinstance(key, rsa.RSAPublicKey)
            try:
                key.verify(
                    signature,
                    f"{header_b64}.{claims_b64}".encode(),
                    padding.PKCS1v15(),
                    hashes.SHA256(),
                )
            except InvalidSignature as exc:
                raise OAuthError("invalid_grant", "invalid assertion") from exc
            now = time.time()
            try:
                expires = float(claims["exp"])
            except (KeyError, TypeError, ValueError) as exc:
                raise OAuthError("invalid_grant", "invalid assertion: exp missing") from exc
            if expires < now:
                raise OAuthError("invalid_grant", "expired authorization code")
            if expires > now + MAX_ASSERTION_LIFETIME_SECONDS:
                raise OAuthError("invalid_grant", "invalid assertion: exp too far ahead")
            if claims.get("aud") not in self.audiences | {self.instance_url}:
                raise OAuthError("invalid_grant", "audience is invalid")
            if claims.get("sub") not in self._users:
                raise OAuthError("invalid_grant", "user hasn't approved this consumer")
            return self._issue(str(claims["sub"]))

    def token_by_client_credentials(self, client_id: str, client_secret: str) -> dict[str, Any]:
        """The client credentials flow: the app's secret, run as its configured user."""
        with self._lock:
            app = self._apps.get(client_id)
            if (
                app is None
                or app.consumer_secret is None
                or not secrets.compare_digest(app.consumer_secret, client_secret)
            ):
                raise OAuthError("invalid_client", "invalid client credentials")
            if app.run_as is None:
                raise OAuthError("invalid_grant", "no client credentials user enabled")
            return self._issue(app.run_as)

    def _issue(self, username: str) -> dict[str, Any]:
        token = "00D" + secrets.token_urlsafe(24)
        self._tokens[token] = (username, time.time() + self.token_ttl_seconds)
        return {
            "access_token": token,
            "instance_url": self.instance_url,
            "id": f"{self.instance_url}/id/00D000000000001/005000000000001",
            "token_type": "Bearer",
            "issued_at": str(int(time.time() * 1000)),
            "scope": "api",
        }

    # API calls: authentication, allocation, faults

    def begin_call(self, token: str | None) -> None:
        """Authenticate an API call, then charge it to the rolling allocation (or refuse)."""
        with self._lock:
            entry = self._tokens.get(token or "")
            if entry is None or entry[1] < time.time():
                raise session_invalid()
            if self._faults and self._calls_before_faults > 0:
                self._calls_before_faults -= 1
            elif self._faults:
                raise self._faults.popleft()
            now = time.time()
            while self._usage and self._usage[0] <= now - API_WINDOW_SECONDS:
                self._usage.popleft()
            if len(self._usage) >= self.api_limit:
                raise limit_exceeded()
            self._usage.append(now)

    def limit_info(self) -> str:
        """The ``Sforce-Limit-Info`` header value."""
        with self._lock:
            return f"api-usage={len(self._usage)}/{self.api_limit}"

    def record_call(self, method: str, path: str, status: int) -> None:
        with self._lock:
            self.calls.append(ApiCall(method, path, status))

    # Records

    def insert(
        self, sobject: str, fields: dict[str, Any], *, modstamp: datetime | None = None
    ) -> str:
        """Create a record (required fields checked); returns its 18-character id."""
        with self._lock:
            sobject_type = self._type(sobject)
            values = self._coerce(sobject_type, fields)
            missing = sorted(f for f in sobject_type.required if values.get(f) in (None, ""))
            if missing:
                raise ApiError(
                    400,
                    "REQUIRED_FIELD_MISSING",
                    f"Required fields are missing: [{', '.join(missing)}]",
                    fields=missing,
                )
            stamp = modstamp or self.clock()
            record_id = sobject_type.key_prefix + _base62(next(self._ids), 15)
            record = dict.fromkeys(sobject_type.fields)
            record.update(values)
            record.update(
                Id=record_id,
                IsDeleted=False,
                CreatedDate=stamp,
                LastModifiedDate=stamp,
                SystemModstamp=stamp,
            )
            self._records[sobject][record_id] = record
            return record_id

    def update(
        self,
        sobject: str,
        record_id: str,
        fields: dict[str, Any],
        *,
        modstamp: datetime | None = None,
    ) -> None:
        with self._lock:
            record = self._live(sobject, record_id)
            record.update(self._coerce(self._type(sobject), fields))
            stamp = modstamp or self.clock()
            record["LastModifiedDate"] = record["SystemModstamp"] = stamp

    def delete(self, sobject: str, record_id: str, *, modstamp: datetime | None = None) -> None:
        """Move a record to the recycle bin: ``IsDeleted``, seen only by ``queryAll``."""
        with self._lock:
            record = self._live(sobject, record_id)
            record["IsDeleted"] = True
            record["SystemModstamp"] = modstamp or self.clock()

    def upsert(
        self, sobject: str, field: str, value: str, fields: dict[str, Any]
    ) -> tuple[int, Any]:
        """Upsert by external id: (201, result) created, (204, None) updated, (300, urls)."""
        with self._lock:
            sobject_type = self._type(sobject)
            if field not in sobject_type.external_ids:
                raise ApiError(
                    404,
                    "NOT_FOUND",
                    f"Provided external ID field does not exist or is not accessible: {field}",
                )
            matching = [
                r
                for r in self._records[sobject].values()
                if not r["IsDeleted"] and r.get(field) == value
            ]
            if len(matching) > 1:
                return 300, [f"/services/data/v62.0/sobjects/{sobject}/{r['Id']}" for r in matching]
            if matching:
                self.update(sobject, matching[0]["Id"], fields)
                return 204, None
            record_id = self.insert(sobject, {**fields, field: value})
            return 201, {"id": record_id, "success": True, "errors": [], "created": True}

    def records(self, sobject: str, *, include_deleted: bool = True) -> list[dict[str, Any]]:
        """Copies of the records of a type (inspection)."""
        with self._lock:
            return [
                dict(r)
                for r in self._records[self._type(sobject).name].values()
                if include_deleted or not r["IsDeleted"]
            ]

    def get(self, sobject: str, record_id: str) -> dict[str, Any]:
        with self._lock:
            return dict(self._live(sobject, record_id))

    # Queries

    def query(self, text: str, *, include_deleted: bool, batch_size: int | None) -> dict[str, Any]:
        """Run a SOQL query; the first batch, with ``nextRecordsUrl`` while more remain."""
        try:
            parsed = soql.parse(text)
        except soql.SoqlError as exc:
            raise ApiError(400, "MALFORMED_QUERY", str(exc)) from exc
        with self._lock:
            if parsed.sobject not in self._types:
                raise ApiError(
                    400, "INVALID_TYPE", f"sObject type '{parsed.sobject}' is not supported."
                )
            sobject_type = self._types[parsed.sobject]
            for name in (*parsed.fields, *(c.field for c in parsed.where), *dict(parsed.order_by)):
                if name not in sobject_type.fields:
                    raise ApiError(
                        400,
                        "INVALID_FIELD",
                        f"No such column '{name}' on entity '{parsed.sobject}'.",
                    )
            try:
                rows = [
                    r
                    for r in self._records[parsed.sobject].values()
                    if (include_deleted or not r["IsDeleted"])
                    and all(soql.matches(r, c) for c in parsed.where)
                ]
            except soql.SoqlError as exc:
                raise ApiError(400, "MALFORMED_QUERY", str(exc)) from exc
            for name, descending in reversed(parsed.order_by):
                rows.sort(key=partial(_order_key, name), reverse=descending)
            if parsed.limit is not None:
                rows = rows[: parsed.limit]
            shaped = [self._shape(sobject_type, r, parsed.fields) for r in rows]
            endpoint = "queryAll" if include_deleted else "query"
            locator = "01g" + secrets.token_hex(8)
            self._cursors[locator] = _Cursor(endpoint, shaped)
            return self._batch(locator, 0, batch_size)

    def query_more(self, locator: str, offset: int, batch_size: int | None) -> dict[str, Any]:
        with self._lock:
            if locator not in self._cursors:
                raise ApiError(400, "INVALID_QUERY_LOCATOR", "invalid query locator")
            return self._batch(locator, offset, batch_size)

    def _batch(self, locator: str, offset: int, batch_size: int | None) -> dict[str, Any]:
        cursor = self._cursors[locator]
        size = min(batch_size or self.max_batch_size, self.max_batch_size)
        batch = cursor.rows[offset : offset + size]
        done = offset + size >= len(cursor.rows)
        page: dict[str, Any] = {"totalSize": len(cursor.rows), "done": done, "records": batch}
        if not done:
            page["nextRecordsUrl"] = (
                f"/services/data/v62.0/{cursor.endpoint}/{locator}-{offset + size}"
            )
        return page

    # Helpers

    def _type(self, name: str) -> SObjectType:
        if name not in self._types:
            raise ApiError(404, "NOT_FOUND", "The requested resource does not exist")
        return self._types[name]

    def _live(self, sobject: str, record_id: str) -> dict[str, Any]:
        record = self._records[self._type(sobject).name].get(record_id)
        if record is None or record["IsDeleted"]:
            raise ApiError(404, "NOT_FOUND", "The requested resource does not exist")
        return record

    def _coerce(self, sobject_type: SObjectType, fields: dict[str, Any]) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for name, value in fields.items():
            if name == "attributes":
                continue
            kind = sobject_type.fields.get(name)
            if kind is None or name in ("Id", "IsDeleted", "SystemModstamp"):
                raise ApiError(
                    400,
                    "INVALID_FIELD",
                    f"No such column '{name}' on sobject of type {sobject_type.name}",
                )
            if kind == "datetime" and isinstance(value, str):
                value = soql.parse_datetime(value)
            values[name] = value
        return values

    @staticmethod
    def _shape(
        sobject_type: SObjectType, record: dict[str, Any], fields: tuple[str, ...]
    ) -> dict[str, Any]:
        shaped: dict[str, Any] = {
            "attributes": {
                "type": sobject_type.name,
                "url": f"/services/data/v62.0/sobjects/{sobject_type.name}/{record['Id']}",
            }
        }
        for name in fields:
            value = record.get(name)
            shaped[name] = format_datetime(value) if isinstance(value, datetime) else value
        return shaped


def _unb64(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def _base62(number: int, width: int) -> str:
    digits = []
    while number:
        number, remainder = divmod(number, 62)
        digits.append(_BASE62[remainder])
    return "".join(reversed(digits)).rjust(width, "0")


def _order_key(field: str, record: dict[str, Any]) -> tuple[bool, Any]:
    """A record's ``ORDER BY`` key on one field: NULLs after values when ascending."""
    return record.get(field) is None, record.get(field)
