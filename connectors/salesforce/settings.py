"""A Salesforce connection's settings, read once from its credentials and options documents."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import AfterValidator, Field

from connectors.base import ConnectionConfig
from connectors.options import ConnectorOptions, parse_options
from core.errors import ConfigurationError

_API_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
DEFAULT_LOGIN_URL = "https://login.salesforce.com"
DEFAULT_API_VERSION = "62.0"

CONTACT_FIELDS = {
    "email": "Email",
    "phone": "Phone",
    "member_number": "Member_Number__c",
    "line_user_id": "LINE_User_Id__c",
}
# Bookings as the standard Event object holds them; a custom object names its own fields.
EVENT_FIELDS = {
    "start": "StartDateTime",
    "end": "EndDateTime",
    "contact_id": "WhoId",
    "service": "Subject",
    "location": "Location",
}
WRITEBACK_DEFAULTS = {
    "object": "Contact",
    "match_field": "Member_Number__c",
    "line_user_id_field": "LINE_User_Id__c",
    "linked_field": "LINE_Linked__c",
}


def check_api_names(*names: str) -> None:
    """Object and field names go into SOQL and URLs: only API names are accepted."""
    for name in names:
        if not isinstance(name, str) or not _API_NAME.fullmatch(name):
            raise ConfigurationError(
                f"{name!r} is not a Salesforce API name (letters, digits, underscores)"
            )


def _api_name(name: str) -> str:
    if not _API_NAME.fullmatch(name):
        raise ValueError("not a Salesforce API name (letters, digits, underscores)")
    return name


ApiName = Annotated[str, AfterValidator(_api_name)]


class ContactOptions(ConnectorOptions):
    """The sObject members are read from, and which fields carry the strong keys."""

    sobject: ApiName = Field("Contact", alias="object")
    fields: dict[str, ApiName] = {}


class BookingOptions(ConnectorOptions):
    """The sObject bookings are read from (the standard Event unless named), its fields and how
    its status values map to the hub's."""

    sobject: ApiName = Field("Event", alias="object")
    fields: dict[str, ApiName] = {}
    status_map: dict[str, str] = {}


class WritebackOptions(ConnectorOptions):
    """Where a member's LINE link is written back to."""

    sobject: ApiName = Field(WRITEBACK_DEFAULTS["object"], alias="object")
    match_field: ApiName = WRITEBACK_DEFAULTS["match_field"]
    line_user_id_field: ApiName = WRITEBACK_DEFAULTS["line_user_id_field"]
    linked_field: ApiName = WRITEBACK_DEFAULTS["linked_field"]


class SalesforceOptions(ConnectorOptions):
    audience: str = DEFAULT_LOGIN_URL
    api_version: str = DEFAULT_API_VERSION
    contact: ContactOptions | None = None
    # False: no bookings stream.
    booking: BookingOptions | Literal[False] | None = None
    # True: write back with the defaults.
    writeback: WritebackOptions | bool | None = None
    # Salesforce's own bounds for a query's batchSize.
    batch_size: int = Field(2000, ge=200, le=2000)
    lookback_seconds: int = Field(600, ge=0)
    max_retries: int = Field(4, ge=0)
    retry_backoff_seconds: float = Field(1.0, ge=0)
    limit_pause_seconds: int = Field(3600, ge=0)
    timeout_seconds: float = Field(30.0, gt=0)


@dataclass(frozen=True, slots=True)
class Auth:
    """How the hub logs in: ``jwt`` (consumer key, username, private key) or
    ``client_credentials`` (consumer key and secret)."""

    flow: str
    consumer_key: str
    username: str | None = None
    private_key: str | None = None
    consumer_secret: str | None = None


@dataclass(frozen=True, slots=True)
class ObjectMapping:
    """Which sObject a stream reads and which of its fields carry what the hub needs."""

    sobject: str
    fields: dict[str, str]
    status_map: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        check_api_names(self.sobject, *self.fields.values())

    def soql_fields(self) -> list[str]:
        """Id, IsDeleted and SystemModstamp first, then the mapped fields, each once."""
        names = ["Id", "IsDeleted", "SystemModstamp", *self.fields.values()]
        return list(dict.fromkeys(names))


@dataclass(frozen=True, slots=True)
class SalesforceSettings:
    login_url: str
    audience: str
    api_version: str
    auth: Auth
    contacts: ObjectMapping
    bookings: ObjectMapping | None
    writeback: dict[str, str] | None
    batch_size: int = 2000
    lookback_seconds: int = 600
    max_retries: int = 4
    retry_backoff_seconds: float = 1.0
    limit_pause_seconds: int = 3600
    timeout_seconds: float = 30.0
    timezone: str = "Asia/Tokyo"

    @property
    def plain_http(self) -> bool:
        """A sandbox or local proxy on plain HTTP (the library only speaks https://)."""
        return urlsplit(self.login_url).scheme == "http"


def read_settings(config: ConnectionConfig) -> SalesforceSettings:
    """Settings from the connection row; says which key is missing or wrong."""
    options = parse_options(SalesforceOptions, "salesforce", config.options)
    login_url = (config.base_url or DEFAULT_LOGIN_URL).rstrip("/")
    contact = options.contact or ContactOptions()
    return SalesforceSettings(
        login_url=login_url,
        audience=options.audience,
        api_version=options.api_version,
        auth=_auth(config.credentials),
        contacts=ObjectMapping(
            sobject=contact.sobject, fields={**CONTACT_FIELDS, **contact.fields}
        ),
        bookings=_bookings(options),
        writeback=writeback_mapping(options),
        batch_size=options.batch_size,
        lookback_seconds=options.lookback_seconds,
        max_retries=options.max_retries,
        retry_backoff_seconds=options.retry_backoff_seconds,
        limit_pause_seconds=options.limit_pause_seconds,
        timeout_seconds=options.timeout_seconds,
        timezone=config.timezone,
    )


def _auth(credentials: dict[str, Any]) -> Auth:
    flow = credentials.get("auth") or (
        "jwt" if credentials.get("private_key") else "client_credentials"
    )
    key = credentials.get("consumer_key")
    if not key:
        raise ConfigurationError("Salesforce credentials need consumer_key (the connected app's)")
    if flow == "jwt":
        if not credentials.get("username") or not credentials.get("private_key"):
            raise ConfigurationError(
                "JWT bearer login needs username and private_key (PEM) in the credentials"
            )
        return Auth("jwt", key, credentials["username"], credentials["private_key"])
    if flow == "client_credentials":
        if not credentials.get("consumer_secret"):
            raise ConfigurationError("client credentials login needs consumer_secret")
        return Auth("client_credentials", key, consumer_secret=credentials["consumer_secret"])
    raise ConfigurationError(f"Salesforce auth {flow!r}: use 'jwt' or 'client_credentials'")


def _bookings(options: SalesforceOptions) -> ObjectMapping | None:
    """The bookings stream's mapping: the standard Event by default, a custom object when
    ``booking.object`` names one (with its ``fields``), none when ``booking`` is false."""
    if options.booking is False:
        return None
    section = options.booking or BookingOptions()
    defaults = EVENT_FIELDS if section.sobject == "Event" else {}
    fields = {**defaults, **section.fields}
    if "start" not in fields:
        raise ConfigurationError(
            f"Salesforce booking object {section.sobject!r} needs fields.start "
            "(its start time field)"
        )
    return ObjectMapping(section.sobject, fields, dict(section.status_map))


def writeback_mapping(options: SalesforceOptions) -> dict[str, str] | None:
    """``writeback: true`` takes the defaults; an object overrides some of them."""
    section = options.writeback
    if not section:
        return None
    chosen = section if isinstance(section, WritebackOptions) else WritebackOptions()
    return {
        "object": chosen.sobject,
        "match_field": chosen.match_field,
        "line_user_id_field": chosen.line_user_id_field,
        "linked_field": chosen.linked_field,
    }
