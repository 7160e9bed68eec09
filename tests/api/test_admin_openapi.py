"""The admin API's OpenAPI document (/docs): every operation typed, secured and explained."""

from __future__ import annotations

import httpx

from core.db import Database

EXPECTED = {
    ("get", "/api/admin/v1/friends"),
    ("get", "/api/admin/v1/friends/{friend_id}"),
    ("get", "/api/admin/v1/tags"),
    ("get", "/api/admin/v1/members"),
    ("post", "/api/admin/v1/members"),
    ("get", "/api/admin/v1/members/{member_id}"),
    ("patch", "/api/admin/v1/members/{member_id}"),
    ("get", "/api/admin/v1/links"),
    ("get", "/api/admin/v1/events"),
    ("get", "/api/admin/v1/events/{event_id}"),
    ("get", "/api/admin/v1/audit"),
}


def test_every_admin_operation_is_documented_with_its_token_and_typed_bodies(
    db: Database, hub_url: str
) -> None:
    spec = httpx.get(hub_url + "/openapi.json", timeout=60).json()
    operations = {
        (method, path): operation
        for path, item in spec["paths"].items()
        if path.startswith("/api/admin/v1/")
        for method, operation in item.items()
    }

    assert set(operations) >= EXPECTED
    for key in EXPECTED:
        operation = operations[key]
        assert operation["security"] == [{"HTTPBearer": []}], key
        assert operation["description"], key
        success = operation["responses"]["201" if key[0] == "post" else "200"]
        assert "$ref" in success["content"]["application/json"]["schema"], key
        unauthorized = operation["responses"]["401"]["content"]["application/json"]["schema"]
        assert unauthorized == {"$ref": "#/components/schemas/ErrorBody"}, key
    member = spec["components"]["schemas"]["MemberOut"]["properties"]
    assert "pin" not in member and "pin_hash" not in member
    assert "has_pin" in member


def test_validation_errors_are_documented_with_the_hubs_error_body(
    db: Database, hub_url: str
) -> None:
    spec = httpx.get(hub_url + "/openapi.json", timeout=60).json()

    for method, path in EXPECTED:
        responses = spec["paths"][path][method]["responses"]
        schema = responses["422"]["content"]["application/json"]["schema"]
        assert schema == {"$ref": "#/components/schemas/ErrorBody"}, (method, path)


def test_every_error_of_every_operation_is_documented_in_the_hubs_error_shape(
    db: Database, hub_url: str
) -> None:
    spec = httpx.get(hub_url + "/openapi.json", timeout=60).json()

    assert "HTTPValidationError" not in spec["components"]["schemas"]
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            responses = operation["responses"]
            assert "500" in responses, (method, path)
            for status, response in responses.items():
                if status.startswith(("4", "5")):
                    schema = response["content"]["application/json"]["schema"]
                    assert schema == {"$ref": "#/components/schemas/ErrorBody"}, (method, path)
