"""Single sign-on to the console with OpenID Connect (any issuer: Google Workspace, Entra ID…).

The authorization-code flow with PKCE (S256), a ``state`` bound to the browser and a ``nonce``
bound to the ID token. Authlib builds the authorization and token requests; the ID token is
verified here with joserfc: its signature against the issuer's JWKS (fetched from the discovery
document, refetched when a token names an unknown key, at most every ``REFETCH_SECONDS``), then
``iss``, ``aud`` (and ``azp`` when there are several audiences), ``exp`` and ``nonce``. Only a
verified email (``email_verified``) of an existing, enabled staff account signs in: no account
is ever created from a sign-on.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
from authlib.common.security import generate_token
from authlib.oauth2.rfc6749.parameters import prepare_grant_uri, prepare_token_request
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from joserfc import jws, jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.errors import Forbidden
from staff.models import StaffUser
from staff.service import normalize_email

HTTP_TIMEOUT_SECONDS = 10.0
REFETCH_SECONDS = 30.0
LEEWAY_SECONDS = 60
ALGORITHMS = ["RS256", "ES256", "PS256"]
ENDPOINTS = ("authorization_endpoint", "token_endpoint", "jwks_uri")


class SsoRefused(Forbidden):
    """A single sign-on that did not sign anyone in; ``reason`` says which step refused it:
    ``cancelled``, ``state``, ``provider``, ``token``, ``unverified`` or ``no_account``."""

    def __init__(self, reason: str, detail: str) -> None:
        self.reason = reason
        super().__init__(detail)


@dataclass(frozen=True, slots=True)
class OidcConfig:
    issuer: str
    client_id: str
    client_secret: str
    redirect_uri: str


@dataclass(frozen=True, slots=True)
class AuthorizationRequest:
    """Where to send the browser, and what the browser must bring back (kept server-side or
    sealed in a cookie): the ``state``, the ``nonce`` and the PKCE verifier."""

    url: str
    state: str
    nonce: str
    code_verifier: str


class OidcProvider:
    """One issuer: its discovery document and keys cached for the process."""

    def __init__(
        self,
        config: OidcConfig,
        *,
        timeout: float = HTTP_TIMEOUT_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config = config
        self._timeout = timeout
        self._clock = clock
        self._lock = threading.Lock()
        self._metadata: dict[str, Any] | None = None
        self._keys: KeySet | None = None
        self._keys_fetched_at = float("-inf")

    def begin(self) -> AuthorizationRequest:
        """A fresh authorization request: new state, nonce and PKCE verifier."""
        state, nonce, verifier = generate_token(32), generate_token(32), generate_token(64)
        url = prepare_grant_uri(
            self.metadata()["authorization_endpoint"],
            self.config.client_id,
            "code",
            redirect_uri=self.config.redirect_uri,
            scope="openid email profile",
            state=state,
            nonce=nonce,
            code_challenge=create_s256_code_challenge(verifier),
            code_challenge_method="S256",
        )
        return AuthorizationRequest(url=url, state=state, nonce=nonce, code_verifier=verifier)

    def finish(
        self, *, code: str, code_verifier: str, nonce: str, now: float | None = None
    ) -> dict[str, Any]:
        """Exchange the code and return the ID token's claims, once verified."""
        body = prepare_token_request(
            "authorization_code",
            code=code,
            redirect_uri=self.config.redirect_uri,
            code_verifier=code_verifier,
        )
        try:
            response = httpx.post(
                self.metadata()["token_endpoint"],
                content=body,
                headers={"content-type": "application/x-www-form-urlencoded"},
                auth=(self.config.client_id, self.config.client_secret),
                timeout=self._timeout,
            )
        except httpx.HTTPError as exc:
            raise SsoRefused("provider", f"the sign-on provider did not answer: {exc}") from exc
        if response.status_code != 200:
            raise SsoRefused(
                "provider", f"the sign-on provider refused the code (HTTP {response.status_code})"
            )
        try:
            id_token = response.json()["id_token"]
        except (ValueError, KeyError, TypeError) as exc:
            raise SsoRefused("provider", "the sign-on provider sent no ID token") from exc
        return self.verify_id_token(str(id_token), nonce=nonce, now=now)

    def verify_id_token(
        self, id_token: str, *, nonce: str, now: float | None = None
    ) -> dict[str, Any]:
        """Signature (JWKS), then ``iss``, ``aud``/``azp``, ``exp`` and ``nonce``."""
        try:
            header = jws.extract_compact(id_token.encode()).protected
            decoded = jwt.decode(id_token, self._key_set(str(header.get("kid", ""))), ALGORITHMS)
            claims = dict(decoded.claims)
            jwt.JWTClaimsRegistry(
                now=int(now if now is not None else time.time()),
                leeway=LEEWAY_SECONDS,
                iss={"essential": True, "value": self.config.issuer},
                aud={"essential": True, "value": self.config.client_id},
                exp={"essential": True},
                nonce={"essential": True, "value": nonce},
            ).validate(claims)
        except (JoseError, ValueError) as exc:
            raise SsoRefused("token", f"the ID token was refused: {exc}") from exc
        audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
        if len(audiences) > 1 and claims.get("azp") != self.config.client_id:
            raise SsoRefused("token", "the ID token was issued to another client (azp)")
        return claims

    def metadata(self) -> dict[str, Any]:
        """The issuer's discovery document, fetched once; its issuer must be the configured one."""
        with self._lock:
            if self._metadata is None:
                url = f"{self.config.issuer.rstrip('/')}/.well-known/openid-configuration"
                document = self._get_json(url)
                if document.get("issuer") != self.config.issuer:
                    raise SsoRefused(
                        "provider",
                        f"the discovery document names issuer {document.get('issuer')!r}, "
                        f"not {self.config.issuer!r}",
                    )
                missing = [
                    name
                    for name in ENDPOINTS
                    if not str(document.get(name, "")).startswith(("https://", "http://"))
                ]
                if missing:
                    raise SsoRefused(
                        "provider", f"the discovery document has no usable {', '.join(missing)}"
                    )
                self._metadata = document
            return self._metadata

    def _key_set(self, kid: str) -> KeySet:
        jwks_uri = self.metadata()["jwks_uri"]
        with self._lock:
            known = self._keys is not None and any(k.kid == kid for k in self._keys)
            if not known and self._clock() - self._keys_fetched_at >= REFETCH_SECONDS:
                self._keys_fetched_at = self._clock()
                try:
                    self._keys = KeySet.import_key_set(self._get_json(jwks_uri))  # type: ignore[arg-type]
                except (JoseError, ValueError, KeyError, TypeError) as exc:
                    raise SsoRefused(
                        "provider", f"the sign-on provider's keys cannot be read: {exc}"
                    ) from exc
            if self._keys is None:
                raise SsoRefused("provider", "the sign-on provider's keys are not available")
            return self._keys

    def _get_json(self, url: str) -> dict[str, Any]:
        try:
            response = httpx.get(url, timeout=self._timeout)
            response.raise_for_status()
            document = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise SsoRefused("provider", f"{url} could not be read: {exc}") from exc
        if not isinstance(document, dict):
            raise SsoRefused("provider", f"{url} is not a JSON object")
        return document


def staff_for(session: Session, claims: dict[str, Any]) -> StaffUser:
    """The enabled staff account of the token's verified email; never a new account."""
    email = claims.get("email")
    if not isinstance(email, str) or claims.get("email_verified") not in (True, "true"):
        raise SsoRefused("unverified", "the sign-on provider has not verified this email")
    user = session.scalar(select(StaffUser).where(StaffUser.email == normalize_email(email)))
    if user is None or user.disabled or not user.roles:
        raise SsoRefused("no_account", f"no enabled staff account has the email {email!r}")
    return user
