"""Helpers for tests that talk to the sandbox org through simple-salesforce."""

from __future__ import annotations

from typing import Any

from simple_salesforce import Salesforce, SFType
from simple_salesforce.exceptions import SalesforceError


def sobject(api: Salesforce, name: str) -> SFType:
    """``api.<name>``: the REST handle of one sObject type (``api.Contact`` is typed as a union
    with the bulk handles, which have no ``create``)."""
    found = getattr(api, name)
    assert isinstance(found, SFType), found
    return found


def error_body(error: SalesforceError) -> Any:
    """The parsed JSON body of an error answer (simple-salesforce annotates ``content`` as the
    raw bytes, but it holds what ``response.json()`` returned)."""
    return error.content
