"""The OpenAPI document completed with what every route shares, so it describes what the hub
really answers: the hub's own error body on every 4xx and 5xx (its 422 included, not FastAPI's
default), 401 on every route that takes a token, 400 on every paginated list (a cursor it did
not hand out) and on every body that cannot be read, and 500, in the same shape, when something
unexpected happens.

What only one route answers (a 404 for its kind of row, a 409) is declared on the route itself.
"""

from __future__ import annotations

import copy
from typing import Any

from api.admin.schemas import ErrorBody

ERROR_BODY = {"$ref": "#/components/schemas/ErrorBody"}

SHARED = {
    "400": "`InvalidCursor`: a cursor this API did not hand out; omit it to start again",
    "400 body": "A body that cannot be read (not UTF-8, or cut short)",
    "401": "Missing, unknown or revoked token",
    "422": "Malformed request: `ValidationFailed`, with each field's problem",
    "500": "`InternalError`: the hub failed unexpectedly; the log has the details under the "
    "request id the detail names",
}

# FastAPI's own 422 body, which the hub never sends.
_FASTAPI_VALIDATION_SCHEMAS = ("HTTPValidationError", "ValidationError")


def complete(
    schema: dict[str, Any], *, direct: dict[str, dict[str, Any]] | None = None
) -> dict[str, Any]:
    """Add the shared responses to FastAPI's operations, then add the ``direct`` operations
    (served ahead of FastAPI, which validates nothing of theirs), each error with its body."""
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components.setdefault(
        "ErrorBody", ErrorBody.model_json_schema(ref_template="#/components/schemas/{model}")
    )
    for item in schema["paths"].values():
        for operation in item.values():
            _add_shared_responses(operation)
            _add_error_bodies(operation)
    for path, item in copy.deepcopy(direct or {}).items():
        for operation in item.values():
            _add_error_bodies(operation)
        schema["paths"][path] = item
    for name in _FASTAPI_VALIDATION_SCHEMAS:
        components.pop(name, None)
    return schema


def _add_shared_responses(operation: dict[str, Any]) -> None:
    responses = operation.setdefault("responses", {})
    parameters = operation.get("parameters", [])
    if parameters or "requestBody" in operation:
        responses.setdefault("422", {"description": SHARED["422"]})
    if any(p["in"] == "query" and p["name"] == "cursor" for p in parameters):
        responses.setdefault("400", {"description": SHARED["400"]})
    if "requestBody" in operation:
        responses.setdefault("400", {"description": SHARED["400 body"]})
    if operation.get("security"):
        responses.setdefault("401", {"description": SHARED["401"]})


def _add_error_bodies(operation: dict[str, Any]) -> None:
    responses = operation.setdefault("responses", {})
    responses.setdefault("500", {"description": SHARED["500"]})
    for status, response in responses.items():
        if status.startswith(("4", "5")):
            content = response.setdefault("content", {})
            content["application/json"] = {"schema": ERROR_BODY}
