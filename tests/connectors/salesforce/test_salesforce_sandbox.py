"""The sandbox org behaves as CONNECTORS.md documents Salesforce, driven by simple-salesforce."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import requests
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import (
    SalesforceMalformedRequest,
    SalesforceMoreThanOneRecord,
    SalesforceRefusedRequest,
)

from sandbox.salesforce.server import SalesforceSandbox
from tests.connectors.salesforce.support import error_body, sobject


def test_query_pages_through_next_records_url_and_reports_api_usage(
    org: SalesforceSandbox, staff_api: Salesforce
) -> None:
    org.state.max_batch_size = 2
    for n in range(5):
        sobject(staff_api, "Contact").create({"LastName": f"Customer {n}"})

    first = staff_api.query("SELECT Id, LastName FROM Contact ORDER BY LastName")
    everything = staff_api.query_all("SELECT Id, LastName FROM Contact ORDER BY LastName")

    assert (first["totalSize"], first["done"], len(first["records"])) == (5, False, 2)
    assert first["nextRecordsUrl"].startswith("/services/data/v")
    assert first["records"][0]["attributes"]["type"] == "Contact"
    assert [r["LastName"] for r in everything["records"]] == [f"Customer {n}" for n in range(5)]
    usage = staff_api.api_usage["api-usage"]
    assert usage.total == 100_000 and usage.used >= 8


def test_deleted_rows_are_seen_by_query_all_only(
    org: SalesforceSandbox, staff_api: Salesforce
) -> None:
    kept = sobject(staff_api, "Contact").create({"LastName": "Kept"})["id"]
    gone = sobject(staff_api, "Contact").create({"LastName": "Gone"})["id"]
    sobject(staff_api, "Contact").delete(gone)

    live = staff_api.query("SELECT Id FROM Contact")
    all_rows = staff_api.query_all("SELECT Id, IsDeleted FROM Contact", include_deleted=True)

    assert [r["Id"] for r in live["records"]] == [kept]
    assert {r["Id"]: r["IsDeleted"] for r in all_rows["records"]} == {kept: False, gone: True}


def test_system_modstamp_range_filters_with_datetime_literals(
    org: SalesforceSandbox, staff_api: Salesforce
) -> None:
    for hour in (1, 2, 3):
        org.state.insert(
            "Contact",
            {"LastName": f"H{hour}"},
            modstamp=datetime(2026, 11, 1, hour, tzinfo=UTC),
        )

    rows = staff_api.query_all(
        "SELECT Id, LastName, SystemModstamp FROM Contact WHERE SystemModstamp >= "
        "2026-11-01T02:00:00Z AND SystemModstamp < 2026-11-01T03:00:00Z ORDER BY SystemModstamp, Id"
    )["records"]

    assert [(r["LastName"], r["SystemModstamp"]) for r in rows] == [
        ("H2", "2026-11-01T02:00:00.000+0000")
    ]


def test_upsert_by_external_id_creates_updates_or_reports_several_matches(
    org: SalesforceSandbox, staff_api: Salesforce
) -> None:
    created = sobject(staff_api, "Contact").upsert("Member_Number__c/M-1", {"LastName": "Sato"})
    updated = sobject(staff_api, "Contact").upsert("Member_Number__c/M-1", {"LINE_Linked__c": True})
    org.state.insert("Contact", {"LastName": "A", "Member_Number__c": "M-2"})
    org.state.insert("Contact", {"LastName": "B", "Member_Number__c": "M-2"})

    assert (created, updated) == (201, 204)
    with pytest.raises(SalesforceMoreThanOneRecord) as several:
        sobject(staff_api, "Contact").upsert("Member_Number__c/M-2", {"LINE_Linked__c": True})
    assert several.value.status == 300


def test_errors_are_an_array_of_message_and_error_code(
    org: SalesforceSandbox, staff_api: Salesforce
) -> None:
    with pytest.raises(SalesforceMalformedRequest) as missing:
        sobject(staff_api, "Contact").create({"Email": "no-last-name@example.jp"})
    with pytest.raises(SalesforceMalformedRequest) as unknown:
        staff_api.query("SELECT Nope__c FROM Contact")

    assert error_body(missing.value)[0]["errorCode"] == "REQUIRED_FIELD_MISSING"
    assert error_body(unknown.value) == [
        {"message": "No such column 'Nope__c' on entity 'Contact'.", "errorCode": "INVALID_FIELD"}
    ]


def test_exhausted_api_allocation_answers_403_request_limit_exceeded(
    org: SalesforceSandbox, staff_api: Salesforce
) -> None:
    org.state.api_limit = 2
    staff_api.query("SELECT Id FROM Contact")
    staff_api.query("SELECT Id FROM Contact")

    with pytest.raises(SalesforceRefusedRequest) as refused:
        staff_api.query("SELECT Id FROM Contact")

    assert refused.value.status == 403
    assert error_body(refused.value)[0]["errorCode"] == "REQUEST_LIMIT_EXCEEDED"


def test_token_endpoint_refuses_unknown_clients_with_oauth_error_shape(
    org: SalesforceSandbox,
) -> None:
    response = requests.post(
        f"{org.url}/services/oauth2/token",
        data={"grant_type": "client_credentials"},
        auth=("staff-app", "wrong"),
        timeout=5,
    )

    assert response.status_code == 400
    assert response.json() == {
        "error": "invalid_client",
        "error_description": "invalid client credentials",
    }
