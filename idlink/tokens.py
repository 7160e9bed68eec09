"""LINE ID tokens (LIFF's ``liff.getIDToken()``): verified locally or by LINE's verify endpoint.

Locally, ES256 tokens are checked against LINE's JWKS, cached per process and refetched when a
token names a key id the cache does not know (LINE rotated its keys) — at most a few times a
minute, so forged tokens with made-up key ids cannot turn the hub into a load on LINE. HS256
tokens are checked with the LINE Login channel secret. Either way the claims are then checked:
issuer, audience (the LINE Login channel id) and expiry.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx
from joserfc import jws, jwt
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, KeySet, OctKey

from core.errors import NotSetUp
from idlink.errors import IdTokenExpired, IdTokenRejected, IdTokenWrongAudience, LineUnavailable

ISSUER = "https://access.line.me"
CERTS_PATH = "/oauth2/v2.1/certs"
VERIFY_PATH = "/oauth2/v2.1/verify"
HTTP_TIMEOUT_SECONDS = 10.0
REOPEN = "Open the page again from LINE to get a new one."


@dataclass(frozen=True, slots=True)
class IdTokenClaims:
    """The verified claims the hub uses: the LINE user (``sub``) and the nonce, if any."""

    sub: str
    nonce: str | None


@dataclass(frozen=True, slots=True)
class LoginChannel:
    """What verifying a token needs of a channel: its LINE Login channel id and secret."""

    login_channel_id: str
    login_channel_secret: str | None


class JwksCache:
    """LINE's ES256 public keys by ``kid``: fetched on first use, refetched when stale or when
    a token names an unknown key, with unknown-key refetches limited to ``max_refetches`` per
    ``refetch_window`` seconds."""

    def __init__(
        self,
        certs_url: str,
        *,
        max_age: float = 3600.0,
        max_refetches: int = 10,
        refetch_window: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.certs_url = certs_url
        self._max_age = max_age
        self._max_refetches = max_refetches
        self._refetch_window = refetch_window
        self._clock = clock
        self._lock = threading.Lock()
        self._keys: KeySet | None = None
        self._fetched_at = 0.0
        self._refetches: deque[float] = deque()
        self.fetches = 0

    def key(self, kid: str) -> ECKey | None:
        """The public key with this id, or None when LINE does not publish it."""
        with self._lock:
            now = self._clock()
            if self._keys is None or now - self._fetched_at > self._max_age:
                self._fetch(now)
            found = self._lookup(kid)
            if found is None and self._may_refetch(now):
                self._fetch(now)
                found = self._lookup(kid)
            return found

    def _lookup(self, kid: str) -> ECKey | None:
        assert self._keys is not None
        for key in self._keys:
            if key.kid == kid and isinstance(key, ECKey):
                return key
        return None

    def _may_refetch(self, now: float) -> bool:
        while self._refetches and now - self._refetches[0] > self._refetch_window:
            self._refetches.popleft()
        if len(self._refetches) >= self._max_refetches:
            return False
        self._refetches.append(now)
        return True

    def _fetch(self, now: float) -> None:
        try:
            response = httpx.get(self.certs_url, timeout=HTTP_TIMEOUT_SECONDS)
        except httpx.HTTPError as exc:
            raise LineUnavailable(f"LINE's signing keys could not be fetched: {exc}") from exc
        if response.status_code != 200:
            raise LineUnavailable(
                f"LINE's signing keys could not be fetched (HTTP {response.status_code})"
            )
        try:
            self._keys = KeySet.import_key_set(response.json())
        except (JoseError, ValueError) as exc:
            raise LineUnavailable(
                f"LINE published signing keys the hub cannot read: {exc}"
            ) from exc
        self._fetched_at = now
        self.fetches += 1


_caches: dict[str, JwksCache] = {}
_caches_lock = threading.Lock()


def jwks_cache(line_api_url: str) -> JwksCache:
    """The process-wide JWKS cache for a LINE API base URL."""
    with _caches_lock:
        cache = _caches.get(line_api_url)
        if cache is None:
            cache = _caches[line_api_url] = JwksCache(line_api_url + CERTS_PATH)
        return cache


def verify_locally(
    id_token: str, channel: LoginChannel, *, jwks: JwksCache, now: datetime
) -> IdTokenClaims:
    """Check the signature (ES256 by JWKS, HS256 by channel secret), then the claims."""
    header = _header(id_token)
    alg = header.get("alg")
    key: ECKey | OctKey | None
    if alg == "ES256":
        kid = header.get("kid")
        key = jwks.key(str(kid)) if kid else None
        if key is None:
            raise IdTokenRejected(
                f"The ID token is signed with a key LINE does not publish. {REOPEN}"
            )
    elif alg == "HS256":
        if not channel.login_channel_secret:
            raise NotSetUp(
                "member linking is not available on this channel yet",
                hint="HS256 ID tokens need the channel's LINE Login channel secret: set it with "
                "`tsunagu channel add --login-channel-secret`",
            )
        key = OctKey.import_key(channel.login_channel_secret.encode())
    else:
        raise IdTokenRejected(f"ID tokens signed with {alg!r} are not accepted. {REOPEN}")
    try:
        claims = jwt.decode(id_token, key, algorithms=[alg]).claims
    except (JoseError, ValueError) as exc:
        raise IdTokenRejected(f"The ID token's signature does not verify. {REOPEN}") from exc
    return check_claims(dict(claims), channel, now=now)


def _header(id_token: str) -> dict[str, Any]:
    try:
        return dict(jws.extract_compact(id_token.encode()).protected)
    except (JoseError, ValueError) as exc:
        raise IdTokenRejected(f"This is not a LINE ID token. {REOPEN}") from exc


def check_claims(claims: dict[str, Any], channel: LoginChannel, *, now: datetime) -> IdTokenClaims:
    """Issuer, audience and expiry, as LINE documents them; the subject must be present."""
    if claims.get("iss") != ISSUER:
        raise IdTokenRejected(f"The ID token was not issued by LINE. {REOPEN}")
    audience = claims.get("aud")
    audiences = audience if isinstance(audience, list) else [audience]
    if channel.login_channel_id not in audiences:
        raise IdTokenWrongAudience(
            "The ID token was issued for another LINE Login channel: is the LIFF app registered "
            "under this channel's LINE Login channel?"
        )
    expires_at = claims.get("exp")
    if not isinstance(expires_at, int) or expires_at <= now.timestamp():
        raise IdTokenExpired(f"The ID token has expired. {REOPEN}")
    sub = claims.get("sub")
    if not isinstance(sub, str) or not sub:
        raise IdTokenRejected(f"The ID token names no LINE user. {REOPEN}")
    nonce = claims.get("nonce")
    return IdTokenClaims(sub=sub, nonce=nonce if isinstance(nonce, str) else None)


def verify_remotely(
    id_token: str,
    channel: LoginChannel,
    *,
    line_api_url: str,
    nonce: str | None,
    now: datetime,
) -> IdTokenClaims:
    """Ask LINE's ``POST /oauth2/v2.1/verify``; its 400 answers become the matching errors."""
    form = {"id_token": id_token, "client_id": channel.login_channel_id}
    if nonce is not None:
        form["nonce"] = nonce
    try:
        response = httpx.post(line_api_url + VERIFY_PATH, data=form, timeout=HTTP_TIMEOUT_SECONDS)
    except httpx.HTTPError as exc:
        raise LineUnavailable(f"LINE's ID token verification is unreachable: {exc}") from exc
    if response.status_code == 400:
        raise _remote_refusal(response)
    if response.status_code != 200:
        raise LineUnavailable(
            f"LINE's ID token verification answered HTTP {response.status_code}; try again later"
        )
    return check_claims(response.json(), channel, now=now)


def _remote_refusal(response: httpx.Response) -> IdTokenRejected:
    try:
        description = str(response.json().get("error_description", ""))
    except ValueError:
        description = ""
    lowered = description.lower()
    if "expired" in lowered:
        return IdTokenExpired(f"The ID token has expired. {REOPEN}")
    if "audience" in lowered:
        return IdTokenWrongAudience(
            "The ID token was issued for another LINE Login channel: is the LIFF app registered "
            "under this channel's LINE Login channel?"
        )
    return IdTokenRejected(f"LINE refused the ID token ({description or 'no reason'}). {REOPEN}")
