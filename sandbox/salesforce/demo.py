"""A ready-made demo org: the hub's connected app (JWT bearer), the custom fields a shop adds,
a Contact per member and an upcoming Event each. For ``tsunagu demo`` and walkthroughs."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from sandbox.salesforce.server import SalesforceSandbox
from sandbox.salesforce.state import SalesforceState

DEMO_CONSUMER_KEY = "3MVG9-tsunagu-demo"
DEMO_USERNAME = "integration@demo-salon.example"


@dataclass(frozen=True, slots=True)
class DemoContact:
    member_number: str
    last_name: str
    email: str
    phone: str


@dataclass(frozen=True, slots=True)
class DemoOrg:
    """The running org and what a hub connection to it needs."""

    sandbox: SalesforceSandbox
    credentials: dict[str, Any]
    options: dict[str, Any]
    contact_ids: dict[str, str]


def start_demo_org(
    contacts: list[DemoContact], *, port: int = 0, now: datetime | None = None
) -> DemoOrg:
    """Start an org holding ``contacts``, each with a 60-minute Event a few days ahead."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    public_pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    state = SalesforceState()
    state.register_app(DEMO_CONSUMER_KEY, public_key_pem=public_pem)
    state.add_user(DEMO_USERNAME)
    state.define_field("Contact", "Member_Number__c", external_id=True)
    state.define_field("Contact", "LINE_User_Id__c", external_id=True)
    state.define_field("Contact", "LINE_Linked__c", "boolean")
    moment = now or datetime.now(UTC)
    # Changed a minute ago: a sync started right away reads them (its window ends at its start).
    seeded_at = moment - timedelta(minutes=1)
    start = moment.replace(minute=0, second=0, microsecond=0)
    contact_ids: dict[str, str] = {}
    for offset, contact in enumerate(contacts, start=2):
        contact_id = state.insert(
            "Contact",
            {
                "LastName": contact.last_name,
                "Email": contact.email,
                "Phone": contact.phone,
                "Member_Number__c": contact.member_number,
            },
            modstamp=seeded_at,
        )
        contact_ids[contact.member_number] = contact_id
        begins = start + timedelta(days=offset, hours=secrets.randbelow(6))
        state.insert(
            "Event",
            {
                "Subject": "Counselling",
                "Location": "Omotesando",
                "StartDateTime": begins,
                "EndDateTime": begins + timedelta(hours=1),
                "WhoId": contact_id,
            },
            modstamp=seeded_at,
        )
    sandbox = SalesforceSandbox(state, port=port).start()
    credentials = {
        "auth": "jwt",
        "consumer_key": DEMO_CONSUMER_KEY,
        "username": DEMO_USERNAME,
        "private_key": private_pem,
    }
    return DemoOrg(sandbox, credentials, {"writeback": True}, contact_ids)
