"""The sandbox org's HTTP API, as simple-salesforce and the hub call it."""

from __future__ import annotations

import base64
import json
import re
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse

from sandbox.salesforce.errors import ApiError, OAuthError
from sandbox.salesforce.state import (
    COLLECTION_LIMIT,
    JWT_GRANT,
    SalesforceState,
    format_datetime,
)

_DATA = "/services/data/v{version}"
_BATCH_SIZE = re.compile(r"batchSize=(\d+)")


def create_app(state: SalesforceState) -> FastAPI:
    """The token endpoint, the REST data API under ``/services/data/vXX.X``, and inspection."""
    app = FastAPI(title="sandbox Salesforce", docs_url=None, redoc_url=None)

    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> JSONResponse:
        state.record_call(request.method, request.url.path, exc.status)
        return JSONResponse(
            exc.body(), status_code=exc.status, headers={"Sforce-Limit-Info": state.limit_info()}
        )

    @app.exception_handler(OAuthError)
    async def oauth_error(request: Request, exc: OAuthError) -> JSONResponse:
        body = {"error": exc.error, "error_description": exc.description}
        return JSONResponse(body, status_code=exc.status)

    @app.post("/services/oauth2/token")
    async def token(request: Request) -> JSONResponse:
        form = await request.form()
        grant = str(form.get("grant_type", ""))
        if grant == JWT_GRANT:
            return JSONResponse(state.token_by_jwt(str(form.get("assertion", ""))))
        if grant == "client_credentials":
            client_id, client_secret = _client(request, form)
            return JSONResponse(state.token_by_client_credentials(client_id, client_secret))
        raise OAuthError("unsupported_grant_type", "grant type not supported")

    def ok(request: Request, body: Any, status: int = 200) -> Response:
        state.record_call(request.method, request.url.path, status)
        headers = {"Sforce-Limit-Info": state.limit_info()}
        if body is None:
            return Response(status_code=status, headers=headers)
        return JSONResponse(body, status_code=status, headers=headers)

    def begin(request: Request) -> None:
        auth = request.headers.get("authorization", "")
        state.begin_call(auth[7:] if auth.lower().startswith("bearer ") else None)

    def batch_size(request: Request) -> int | None:
        match = _BATCH_SIZE.search(request.headers.get("sforce-query-options", ""))
        return int(match.group(1)) if match else None

    @app.get(_DATA + "/query/")
    @app.get(_DATA + "/query")
    async def query(request: Request, version: str, q: str) -> Response:
        begin(request)
        return ok(request, state.query(q, include_deleted=False, batch_size=batch_size(request)))

    @app.get(_DATA + "/queryAll/")
    @app.get(_DATA + "/queryAll")
    async def query_all(request: Request, version: str, q: str) -> Response:
        begin(request)
        return ok(request, state.query(q, include_deleted=True, batch_size=batch_size(request)))

    @app.get(_DATA + "/{endpoint}/{cursor}")
    async def query_more(request: Request, version: str, endpoint: str, cursor: str) -> Response:
        if endpoint not in ("query", "queryAll") or "-" not in cursor:
            raise ApiError(404, "NOT_FOUND", "The requested resource does not exist")
        begin(request)
        locator, _, offset = cursor.rpartition("-")
        return ok(request, state.query_more(locator, int(offset), batch_size(request)))

    @app.post(_DATA + "/sobjects/{sobject}/")
    @app.post(_DATA + "/sobjects/{sobject}")
    async def create(request: Request, version: str, sobject: str) -> Response:
        begin(request)
        record_id = state.insert(sobject, await _json(request))
        return ok(request, {"id": record_id, "success": True, "errors": []}, 201)

    @app.get(_DATA + "/sobjects/{sobject}/{record_id}")
    async def read(request: Request, version: str, sobject: str, record_id: str) -> Response:
        begin(request)
        record = state.get(sobject, record_id)
        return ok(request, json.loads(json.dumps(record, default=_datetime)))

    @app.patch(_DATA + "/sobjects/{sobject}/{record_id}")
    async def update(request: Request, version: str, sobject: str, record_id: str) -> Response:
        begin(request)
        state.update(sobject, record_id, await _json(request))
        return ok(request, None, 204)

    @app.delete(_DATA + "/sobjects/{sobject}/{record_id}")
    async def delete(request: Request, version: str, sobject: str, record_id: str) -> Response:
        begin(request)
        state.delete(sobject, record_id)
        return ok(request, None, 204)

    @app.patch(_DATA + "/sobjects/{sobject}/{field}/{value}")
    async def upsert(
        request: Request, version: str, sobject: str, field: str, value: str
    ) -> Response:
        begin(request)
        status, body = state.upsert(sobject, field, value, await _json(request))
        return ok(request, body, status)

    @app.patch(_DATA + "/composite/sobjects/{sobject}/{field}")
    async def upsert_collection(
        request: Request, version: str, sobject: str, field: str
    ) -> Response:
        begin(request)
        document = await _json(request)
        records = document.get("records")
        if not isinstance(records, list) or len(records) > COLLECTION_LIMIT:
            raise ApiError(
                400, "INVALID_BATCH_SIZE", f"records must be a list of at most {COLLECTION_LIMIT}"
            )
        return ok(request, [_upsert_one(state, sobject, field, r) for r in records])

    @app.get("/_sandbox/records/{sobject}")
    async def inspect_records(sobject: str) -> Response:
        return JSONResponse(json.loads(json.dumps(state.records(sobject), default=_datetime)))

    @app.get("/_sandbox/usage")
    async def inspect_usage() -> Response:
        return JSONResponse({"api_usage": state.limit_info(), "calls": len(state.calls)})

    return app


def _upsert_one(state: SalesforceState, sobject: str, field: str, record: Any) -> dict[str, Any]:
    """One record of an sObject Collections upsert: its own success or errors."""
    try:
        if not isinstance(record, dict) or field not in record:
            raise ApiError(400, "MISSING_ARGUMENT", f"{field} not specified", fields=[field])
        values = {k: v for k, v in record.items() if k != field}
        status, body = state.upsert(sobject, field, str(record[field]), values)
    except ApiError as exc:
        error = {"statusCode": exc.code, "message": exc.message, "fields": exc.fields or []}
        return {"success": False, "errors": [error]}
    if status == 300:
        error = {"statusCode": "DUPLICATE_EXTERNAL_ID", "message": "more than one record"}
        return {"success": False, "errors": [{**error, "fields": [field]}]}
    created = status == 201
    record_id = body["id"] if created else _id_of(state, sobject, field, str(record[field]))
    return {"id": record_id, "success": True, "errors": [], "created": created}


def _id_of(state: SalesforceState, sobject: str, field: str, value: str) -> str | None:
    for found in state.records(sobject, include_deleted=False):
        if found.get(field) == value:
            return str(found["Id"])
    return None


async def _json(request: Request) -> dict[str, Any]:
    try:
        document = json.loads(await request.body())
    except ValueError as exc:
        raise ApiError(400, "JSON_PARSER_ERROR", f"invalid JSON: {exc}") from exc
    if not isinstance(document, dict):
        raise ApiError(400, "JSON_PARSER_ERROR", "expected a JSON object")
    return document


def _client(request: Request, form: Any) -> tuple[str, str]:
    """Client id and secret from HTTP Basic auth, or from the form."""
    auth = request.headers.get("authorization", "")
    if auth.lower().startswith("basic "):
        try:
            client_id, _, secret = base64.b64decode(auth[6:]).decode().partition(":")
        except ValueError as exc:
            raise OAuthError("invalid_client", "invalid client credentials") from exc
        return client_id, secret
    return str(form.get("client_id", "")), str(form.get("client_secret", ""))


def _datetime(value: Any) -> str:
    return format_datetime(value)
