"""sObject types the sandbox org knows: fields with their types, required and external-id
fields, and the id prefix of each type."""

from __future__ import annotations

from dataclasses import dataclass, field

SYSTEM_FIELDS = {
    "Id": "id",
    "IsDeleted": "boolean",
    "CreatedDate": "datetime",
    "LastModifiedDate": "datetime",
    "SystemModstamp": "datetime",
}


@dataclass(slots=True)
class SObjectType:
    name: str
    key_prefix: str
    fields: dict[str, str]
    required: set[str] = field(default_factory=set)
    external_ids: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.fields = {**SYSTEM_FIELDS, **self.fields}


def standard_types() -> dict[str, SObjectType]:
    """Contact and Event as every org has them (custom fields are added per test or demo)."""
    return {
        "Contact": SObjectType(
            "Contact",
            "003",
            {
                "FirstName": "string",
                "LastName": "string",
                "Email": "string",
                "Phone": "string",
                "MobilePhone": "string",
                "AccountId": "reference",
            },
            required={"LastName"},
        ),
        "Event": SObjectType(
            "Event",
            "00U",
            {
                "Subject": "string",
                "StartDateTime": "datetime",
                "EndDateTime": "datetime",
                "WhoId": "reference",
                "WhatId": "reference",
                "Location": "string",
                "Description": "string",
            },
            required={"StartDateTime", "EndDateTime"},
        ),
    }
