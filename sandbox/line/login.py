"""The LINE Login part of the sandbox state: signing keys, ID and access tokens, LIFF apps."""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from sandbox.line import ids, tokens
from sandbox.line.errors import OAuthError
from sandbox.line.models import SandboxChannel, SandboxUser

SIGNING_KEY_GRACE_SECONDS = 24 * 3600
LOGIN_ACCESS_TOKEN_TTL_SECONDS = 30 * 24 * 3600


@dataclass
class LoginAccessToken:
    """A LINE Login access token issued for a simulated user."""

    user_id: str
    login_channel_id: str
    scope: str
    expires_at: float


@dataclass(frozen=True)
class LiffApp:
    """A LIFF app: its id (``<login channel id>-<suffix>``) and the hub page it opens."""

    liff_id: str
    login_channel_id: str
    endpoint_url: str
    view_type: str = "full"

    def to_dict(self) -> dict[str, str]:
        """Return the app as the sandbox control API shows it."""
        return {
            "liff_id": self.liff_id,
            "login_channel_id": self.login_channel_id,
            "endpoint_url": self.endpoint_url,
            "view_type": self.view_type,
        }


class LoginState:
    """LINE Login methods of ``SandboxState`` (which provides the lock, clock and users)."""

    lock: threading.RLock
    clock: Callable[[], float]
    signing_keys: list[tokens.SigningKey]
    login_access_tokens: dict[str, LoginAccessToken]
    liff_apps: dict[str, LiffApp]

    def user(self, user_id: str) -> SandboxUser:
        """Return a simulated user (implemented by ``SandboxState``)."""
        raise NotImplementedError

    def login_channel(self, login_channel_id: str) -> SandboxChannel | None:
        """Return the channel paired with a LINE Login channel (implemented by ``SandboxState``)."""
        raise NotImplementedError

    def rotate_signing_key(self, *, grace_seconds: float = SIGNING_KEY_GRACE_SECONDS) -> str:
        """Sign new ID tokens with a fresh key; the old one stays in the JWKS for a while."""
        with self.lock:
            now = self.clock()
            for key in self.signing_keys:
                if key.retire_at is None:
                    key.retire_at = now + grace_seconds
            new_key = tokens.new_signing_key(now)
            self.signing_keys.append(new_key)
            return new_key.kid

    def published_keys(self) -> list[tokens.SigningKey]:
        """Return the keys still published in the JWKS (current and not yet retired)."""
        with self.lock:
            now = self.clock()
            return [k for k in self.signing_keys if k.retire_at is None or k.retire_at > now]

    def jwks(self) -> dict[str, Any]:
        """Return the JWK set served at ``/oauth2/v2.1/certs``."""
        return tokens.jwks(self.published_keys())

    def issue_id_token(
        self,
        user_id: str,
        login_channel_id: str,
        *,
        nonce: str | None = None,
        alg: tokens.Algorithm = "ES256",
        expires_in: int = 3600,
        name: str | None = None,
        picture: str | None = None,
        email: str | None = None,
        amr: tuple[str, ...] = ("linesso",),
    ) -> str:
        """Issue an ID token for a simulated user, signed like LINE's (ES256 or HS256)."""
        user = self.user(user_id)
        now = int(self.clock())
        claims: dict[str, Any] = {
            "iss": tokens.ISSUER,
            "sub": user.user_id,
            "aud": login_channel_id,
            "exp": now + expires_in,
            "iat": now,
            "amr": list(amr),
            "name": name or user.display_name,
        }
        optional = {"nonce": nonce, "picture": picture or user.picture_url, "email": email}
        claims.update({k: v for k, v in optional.items() if v is not None})
        with self.lock:
            current = self.signing_keys[-1]
        return tokens.encode_id_token(
            claims, alg=alg, signing_key=current, secret=self._login_secret(login_channel_id)
        )

    def verify_id_token(
        self,
        id_token: str,
        client_id: str,
        *,
        nonce: str | None = None,
        user_id: str | None = None,
    ) -> dict[str, Any]:
        """Verify an ID token like ``POST /oauth2/v2.1/verify``; raise OAuthError on failure."""
        claims = tokens.decode_id_token(
            id_token, keys=self.published_keys(), secret=self._login_secret(client_id)
        )
        tokens.check_id_token_claims(
            claims, client_id=client_id, now=self.clock(), nonce=nonce, user_id=user_id
        )
        return claims

    def issue_access_token(
        self,
        user_id: str,
        login_channel_id: str,
        *,
        scope: str = "profile openid",
        expires_in: int = LOGIN_ACCESS_TOKEN_TTL_SECONDS,
    ) -> str:
        """Issue a LINE Login access token for a simulated user."""
        self.user(user_id)
        token = ids.new_token(40)
        with self.lock:
            self.login_access_tokens[token] = LoginAccessToken(
                user_id, login_channel_id, scope, self.clock() + expires_in
            )
        return token

    def verify_access_token(self, access_token: str) -> LoginAccessToken:
        """Return a live LINE Login access token, or raise LINE's 400."""
        with self.lock:
            token = self.login_access_tokens.get(access_token)
            if token is None:
                raise OAuthError("invalid access token")
            if token.expires_at <= self.clock():
                raise OAuthError("access token expired")
            return token

    def _login_secret(self, login_channel_id: str) -> str | None:
        channel = self.login_channel(login_channel_id)
        return channel.login_channel_secret if channel else None

    def add_liff_app(
        self,
        login_channel_id: str,
        endpoint_url: str,
        *,
        liff_id: str | None = None,
        view_type: str = "full",
    ) -> LiffApp:
        """Register a LIFF app whose LIFF URL opens ``endpoint_url`` (the hub's LIFF page)."""
        app = LiffApp(
            liff_id=liff_id or f"{login_channel_id}-{secrets.token_urlsafe(6)}",
            login_channel_id=login_channel_id,
            endpoint_url=endpoint_url,
            view_type=view_type,
        )
        with self.lock:
            self.liff_apps[app.liff_id] = app
        return app

    def liff_app(self, liff_id: str) -> LiffApp:
        """Return a LIFF app by id, raising KeyError when unknown."""
        with self.lock:
            try:
                return self.liff_apps[liff_id]
            except KeyError:
                raise KeyError(f"unknown LIFF app {liff_id}") from None


def liff_endpoint(app: LiffApp, user_id: str, path: str = "") -> str:
    """Return the hub page a LIFF URL opens for a simulated user.

    Like LINE's ``concat`` permanent links, ``path`` (with its query) is appended to the
    endpoint URL; ``sandbox_user`` tells the LIFF SDK stand-in whom to act for.
    """
    base = urlsplit(app.endpoint_url)
    extra = urlsplit(path)
    query = parse_qsl(base.query) + parse_qsl(extra.query) + [("sandbox_user", user_id)]
    joined_path = base.path.rstrip("/") + "/" + extra.path.lstrip("/") if extra.path else base.path
    return urlunsplit((base.scheme, base.netloc, joined_path, urlencode(query), ""))
