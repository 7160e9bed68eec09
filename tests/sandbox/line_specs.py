"""Validation against LINE's OpenAPI specs, with each discriminated object checked against its
concrete schema (the specs use ``discriminator`` + ``allOf`` without ``oneOf``)."""

from __future__ import annotations

import re
import threading
from functools import cache, cached_property
from pathlib import Path
from typing import Any

import yaml
from jsonschema import validators
from jsonschema.exceptions import ValidationError
from openapi_schema_validator import OAS30Validator

from sandbox.line.recorder import ApiCall

SPECS_LOCATION = "../shared/specs/line"
"""Where the specs sit, relative to the checkout: beside it, not in it (CI has them there)."""
SPECS_DIR = Path(__file__).resolve().parents[2] / SPECS_LOCATION
API_SPECS = ("messaging-api", "channel-access-token")
_in_progress = threading.local()
# Answers LINE's reference documents that its OpenAPI files leave out: getting a video's or an
# audio's content while LINE still prepares it answers 202 with no body.
DOCUMENTED_ELSEWHERE = {("getMessageContent", 202)}


def _discriminator(validator: Any, discriminator: dict[str, Any], instance: Any, schema: Any):
    """Also validate ``instance`` against the concrete schema its discriminator value maps to."""
    if not isinstance(instance, dict):
        return
    target = discriminator.get("mapping", {}).get(instance.get(discriminator["propertyName"]))
    if target is None:
        return
    # The concrete schema's allOf includes this base again: do not recurse into it twice.
    active: set[tuple[int, str]] = getattr(_in_progress, "active", set())
    _in_progress.active = active
    marker = (id(instance), target)
    if marker in active:
        return
    active.add(marker)
    try:
        yield from validator.descend(instance, {"$ref": target})
    finally:
        active.discard(marker)


ConcreteValidator = validators.extend(OAS30Validator, {"discriminator": _discriminator})


class LineSpecs:
    """LINE's OpenAPI documents, for validating sandbox traffic and webhook bodies."""

    def __init__(self, directory: Path = SPECS_DIR) -> None:
        self.documents = {
            path.stem: yaml.load(path.read_text(), Loader=yaml.CSafeLoader)
            for path in directory.glob("*.yml")
        }

    def validate(self, document: str, schema_name: str, instance: Any) -> None:
        """Validate ``instance`` against ``#/components/schemas/<schema_name>`` of a document."""
        root = self.documents[document]
        schema = {"$ref": f"#/components/schemas/{schema_name}", "components": root["components"]}
        error = next(iter(ConcreteValidator(schema).iter_errors(instance)), None)
        if error is not None:
            raise ValidationError(f"{schema_name}: {error.message} at {list(error.absolute_path)}")

    def validate_call(self, call: ApiCall) -> bool:
        """Validate a recorded call's JSON bodies against its operation; False if not in specs."""
        found = self._operation(call.method, call.path)
        if found is None:
            return False
        document, operation = found
        assert call.response_headers.get("x-line-request-id"), call
        accepted = 200 <= call.status_code < 300
        request_schema = _json_schema_ref(operation.get("requestBody", {}))
        # Requests the sandbox accepted must be valid; rejected ones are often invalid on purpose.
        if request_schema and accepted:
            self.validate(document, request_schema, call.request_json())
        response = operation.get("responses", {}).get(str(call.status_code))
        if response is not None:
            response_schema = _json_schema_ref(response)
        elif (operation.get("operationId"), call.status_code) in DOCUMENTED_ELSEWHERE:
            response_schema = None
        elif not accepted:
            response_schema = "ErrorResponse"
        else:
            raise AssertionError(f"{call.method} {call.path}: undocumented {call.status_code}")
        if response_schema:
            self.validate(document, response_schema, call.response_json())
        return True

    def _operation(self, method: str, path: str) -> tuple[str, dict[str, Any]] | None:
        for pattern, document, methods in self._routes:
            if pattern.match(path) and method.lower() in methods:
                return document, methods[method.lower()]
        return None

    @cached_property
    def _routes(self) -> list[tuple[re.Pattern[str], str, dict[str, Any]]]:
        routes = []
        for document in API_SPECS:
            for template, methods in self.documents[document]["paths"].items():
                regex = re.sub(r"\{[^}]+\}", "[^/]+", template)
                routes.append((template.count("{"), re.compile(f"^{regex}$"), document, methods))
        # Literal segments win over parameters (``/richmenu/list`` before ``/richmenu/{id}``).
        routes.sort(key=lambda route: route[0])
        return [(pattern, document, methods) for _, pattern, document, methods in routes]


def _json_schema_ref(holder: dict[str, Any]) -> str | None:
    schema = holder.get("content", {}).get("application/json", {}).get("schema", {})
    ref = schema.get("$ref")
    return ref.rsplit("/", 1)[-1] if ref else None


@cache
def load_specs() -> LineSpecs | None:
    """Return the specs, parsed once per test session, or None when they are not available.

    Tests take them through the ``line_specs`` fixture, which skips or fails when they are not.
    """
    return LineSpecs(SPECS_DIR) if SPECS_DIR.is_dir() else None
