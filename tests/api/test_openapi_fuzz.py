"""The OpenAPI document, fuzzed against the running hub with a valid token: no answer is a 5xx,
and every answer (status, content type, body) is one the document describes.

Bounded and repeatable: a fixed number of generated requests per operation, derandomized.
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.core.result import Err
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from core.db import Database
from core.tenancy import Shop
from tests.api.admin_support import admin_api

EXAMPLES_PER_OPERATION = 15
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@pytest.mark.fuzz
def test_fuzzing_the_openapi_document_finds_no_server_error_and_no_undocumented_answer(
    db: Database, hub_url: str, shop: Shop
) -> None:
    token = admin_api(db, hub_url, shop).token
    schema = schemathesis.openapi.from_url(f"{hub_url}/openapi.json")
    failures: list[str] = []

    for result in schema.get_all_operations():
        if isinstance(result, Err):
            failures.append(f"an operation the fuzzer cannot read: {result.err()}")
            continue
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            exercise(result.ok(), mode, token, failures)

    distinct = sorted(set(failures))
    assert not distinct, f"{len(distinct)} distinct failures:\n" + "\n".join(distinct)


def exercise(operation, mode: GenerationMode, token: str, failures: list[str]) -> None:
    """Send the operation's generated requests (valid ones, or ones the document forbids);
    record every broken expectation."""
    name = f"{operation.method.upper()} {operation.path} ({mode.value})"

    @settings(
        max_examples=EXAMPLES_PER_OPERATION,
        derandomize=True,
        deadline=None,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode))
    def send(case) -> None:
        try:
            case.call_and_validate(
                headers={"Authorization": f"Bearer {token}"}, checks=CHECKS, timeout=30
            )
        except (Exception, FailureGroup) as exc:
            failures.append(f"{name}: {_describe(exc)}")

    try:
        send()
    except Unsatisfiable:
        # An operation without parameters or body has no invalid request to make.
        assert mode is GenerationMode.NEGATIVE, name


def _describe(exc: BaseException) -> str:
    """The failed checks and what the hub answered, and the curl line to reproduce it."""
    text = str(exc)
    kept = [
        line.strip()
        for line in text.split("Reproduce with:")[0].splitlines()
        if line.strip().startswith(("- ", "Received", "Documented", "[", "`"))
    ]
    curl = [line.strip() for line in text.splitlines() if line.strip().startswith("curl ")]
    return " | ".join(kept + curl[:1]) or text
