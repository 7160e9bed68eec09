"""Logging in without SOAP: the OAuth 2.0 JWT bearer flow (an RS256 assertion signed with the
connected app's certificate key) or client credentials, and the HTTP session both use.

simple-salesforce always builds ``https://`` URLs. For a sandbox or proxy on plain HTTP, the
session's adapter sends requests for that host (and the instance it hands out) over http://.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import requests
from joserfc import jwt
from joserfc.jwk import RSAKey
from requests.adapters import HTTPAdapter

from connectors.errors import FatalError, RetriableError
from connectors.salesforce.settings import Auth, SalesforceSettings

JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
# Salesforce accepts assertions that expire within three minutes.
ASSERTION_LIFETIME = timedelta(minutes=3)


@dataclass(frozen=True, slots=True)
class AccessToken:
    access_token: str
    instance_url: str


class HubAdapter(HTTPAdapter):
    """A default timeout on every request, and https→http for the configured plain hosts."""

    def __init__(self, *, timeout: float, plain_hosts: set[str]) -> None:
        super().__init__()
        self.timeout = timeout
        self.plain_hosts = plain_hosts

    def send(
        self,
        request: requests.PreparedRequest,
        stream: bool = False,
        timeout: Any = None,
        verify: Any = True,
        cert: Any = None,
        proxies: Any = None,
    ) -> requests.Response:
        parts = urlsplit(request.url or "")
        if parts.scheme == "https" and parts.netloc in self.plain_hosts:
            request.url = urlunsplit(("http", *parts[1:]))
        return super().send(
            request,
            stream=stream,
            timeout=self.timeout if timeout is None else timeout,
            verify=verify,
            cert=cert,
            proxies=proxies,
        )


def http_session(settings: SalesforceSettings) -> tuple[requests.Session, HubAdapter]:
    """A session whose adapter applies the timeout and, for a plain-HTTP login URL, the rewrite."""
    plain = {urlsplit(settings.login_url).netloc} if settings.plain_http else set()
    adapter = HubAdapter(timeout=settings.timeout_seconds, plain_hosts=plain)
    session = requests.Session()
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session, adapter


def jwt_assertion(auth: Auth, *, audience: str, now: datetime) -> str:
    """The signed assertion: issuer = consumer key, subject = username, audience = login host."""
    try:
        key = RSAKey.import_key(auth.private_key or "")
    except Exception as exc:
        raise FatalError(
            "the Salesforce private_key is not a PEM RSA private key: paste the key whose "
            "certificate is uploaded to the connected app"
        ) from exc
    claims = {
        "iss": auth.consumer_key,
        "sub": auth.username,
        "aud": audience,
        "exp": int((now + ASSERTION_LIFETIME).timestamp()),
    }
    return jwt.encode({"alg": "RS256"}, claims, key)


def fetch_token(
    session: requests.Session,
    adapter: HubAdapter,
    settings: SalesforceSettings,
    *,
    now: datetime,
) -> AccessToken:
    """Log in at ``{login_url}/services/oauth2/token``; classify the failure when refused."""
    auth = settings.auth
    data: dict[str, str]
    basic: tuple[str, str] | None = None
    if auth.flow == "jwt":
        assertion = jwt_assertion(auth, audience=settings.audience, now=now)
        data = {"grant_type": JWT_GRANT, "assertion": assertion}
    else:
        data = {"grant_type": "client_credentials"}
        basic = (auth.consumer_key, auth.consumer_secret or "")
    url = f"{settings.login_url}/services/oauth2/token"
    try:
        response = session.post(url, data=data, auth=basic)
    except requests.RequestException as exc:
        raise RetriableError(f"Salesforce login at {url} failed: {exc}") from exc
    if response.status_code == 429 or response.status_code >= 500:
        raise RetriableError(f"Salesforce login answered {response.status_code}", status=503)
    body = _json(response)
    if response.status_code != 200 or "access_token" not in body:
        raise FatalError(
            f"Salesforce refused the {auth.flow} login ({body.get('error', response.status_code)}"
            f": {body.get('error_description', response.text[:200])}); check the connected "
            "app's consumer key, its certificate or secret, and that the user is pre-authorised",
            status=response.status_code,
        )
    instance_url = str(body.get("instance_url") or settings.login_url).rstrip("/")
    instance = urlsplit(instance_url)
    if instance.scheme == "http" and settings.plain_http:
        adapter.plain_hosts.add(instance.netloc)
    return AccessToken(str(body["access_token"]), instance_url)


def _json(response: requests.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}
