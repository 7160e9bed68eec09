"""A sandbox Salesforce org per test, a hub connection to it, and simple-salesforce as the
shop's staff would use it to change records."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from simple_salesforce import Salesforce

from commerce.connections import create_connection
from connectors.base import ConnectionConfig
from connectors.salesforce.auth import http_session
from connectors.salesforce.settings import read_settings
from core.db import Database
from core.tenancy import Shop
from sandbox.salesforce.server import SalesforceSandbox
from sandbox.salesforce.state import SalesforceState

CONSUMER_KEY = "3MVG9-hub-connected-app"
USERNAME = "integration@shop.example"


@dataclass(frozen=True, slots=True)
class KeyPair:
    private_pem: str
    public_pem: bytes


def make_key_pair() -> KeyPair:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return KeyPair(private, public)


@pytest.fixture(scope="session")
def key_pair() -> KeyPair:
    return make_key_pair()


@pytest.fixture
def org(key_pair: KeyPair) -> Iterator[SalesforceSandbox]:
    """A sandbox org with the hub's connected app, its user, and the custom fields shops add."""
    sandbox = SalesforceSandbox(SalesforceState(max_batch_size=2000))
    state = sandbox.state
    state.register_app(CONSUMER_KEY, public_key_pem=key_pair.public_pem)
    state.register_app("staff-app", consumer_secret="staff-secret", run_as="staff@shop.example")
    state.add_user(USERNAME)
    state.define_field("Contact", "Member_Number__c", external_id=True)
    state.define_field("Contact", "LINE_User_Id__c", external_id=True)
    state.define_field("Contact", "LINE_Linked__c", "boolean")
    sandbox.start()
    yield sandbox
    sandbox.stop()


def add_salesforce_connection(
    database: Database,
    shop: Shop,
    org: SalesforceSandbox,
    *,
    credentials: dict[str, Any],
    options: dict[str, Any] | None = None,
) -> int:
    with database.session_scope() as session:
        connection = create_connection(
            session,
            shop=session.get_one(Shop, shop.id),
            kind="salesforce",
            name=f"crm-{secrets.token_hex(3)}",
            base_url=org.url,
            credentials=credentials,
            options={"retry_backoff_seconds": 0.01, "max_retries": 2, **(options or {})},
        )
        return connection.id


def jwt_credentials(key_pair: KeyPair) -> dict[str, Any]:
    return {
        "auth": "jwt",
        "consumer_key": CONSUMER_KEY,
        "username": USERNAME,
        "private_key": key_pair.private_pem,
    }


@pytest.fixture
def staff_api(org: SalesforceSandbox) -> Salesforce:
    """simple-salesforce logged in as the shop's staff (client credentials)."""
    token = org.state.token_by_client_credentials("staff-app", "staff-secret")
    config = ConnectionConfig(
        kind="salesforce",
        base_url=org.url,
        credentials={"consumer_key": "staff-app", "consumer_secret": "staff-secret"},
        options={},
    )
    session, _ = http_session(read_settings(config))
    return Salesforce(
        instance_url=token["instance_url"], session_id=token["access_token"], session=session
    )
