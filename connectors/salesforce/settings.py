"""A Salesforce connection's settings, read once from its credentials and options documents."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from connectors.base import ConnectionConfig
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
    options = config.options
    login_url = (config.base_url or DEFAULT_LOGIN_URL).rstrip("/")
    return SalesforceSettings(
        login_url=login_url,
        audience=str(options.get("audience", DEFAULT_LOGIN_URL)),
        api_version=str(options.get("api_version", DEFAULT_API_VERSION)),
        auth=_auth(config.credentials),
        contacts=ObjectMapping(
            sobject=str(_section(options, "contact").get("object", "Contact")),
            fields={**CONTACT_FIELDS, **_section(options, "contact").get("fields", {})},
        ),
        bookings=_bookings(options),
        writeback=_writeback(options),
        batch_size=int(options.get("batch_size", 2000)),
        lookback_seconds=int(options.get("lookback_seconds", 600)),
        max_retries=int(options.get("max_retries", 4)),
        retry_backoff_seconds=float(options.get("retry_backoff_seconds", 1.0)),
        limit_pause_seconds=int(options.get("limit_pause_seconds", 3600)),
        timeout_seconds=float(options.get("timeout_seconds", 30.0)),
        timezone=config.timezone,
    )


def _section(options: dict[str, Any], name: str) -> dict[str, Any]:
    value = options.get(name) or {}
    if not isinstance(value, dict):
        raise ConfigurationError(f"Salesforce option {name!r} must be an object")
    return value


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


def _bookings(options: dict[str, Any]) -> ObjectMapping | None:
    """The bookings stream's mapping: the standard Event by default, a custom object when
    ``booking.object`` names one (with its ``fields``), none when ``booking`` is false."""
    if options.get("booking") is False:
        return None
    section = _section(options, "booking")
    sobject = str(section.get("object", "Event"))
    defaults = EVENT_FIELDS if sobject == "Event" else {}
    fields = {**defaults, **section.get("fields", {})}
    if "start" not in fields:
        raise ConfigurationError(
            f"Salesforce booking object {sobject!r} needs fields.start (its start time field)"
        )
    return ObjectMapping(sobject, fields, dict(section.get("status_map", {})))


def _writeback(options: dict[str, Any]) -> dict[str, str] | None:
    """``writeback: true`` takes the defaults; an object overrides some of them."""
    section = options.get("writeback")
    if not section:
        return None
    mapping = {**WRITEBACK_DEFAULTS, **(section if isinstance(section, dict) else {})}
    check_api_names(*mapping.values())
    return mapping
