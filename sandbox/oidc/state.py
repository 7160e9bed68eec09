"""What the sandbox OpenID Connect provider knows: its clients, its users, the codes it issued,
its signing key, and knobs that make the next ID token wrong in one chosen way (for tests)."""

from __future__ import annotations

import base64
import hashlib
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from joserfc import jwt
from joserfc.jwk import RSAKey

CODE_TTL_SECONDS = 60
ID_TOKEN_TTL_SECONDS = 600


@dataclass(frozen=True, slots=True)
class OidcUser:
    sub: str
    email: str
    email_verified: bool = True
    name: str = ""


@dataclass(frozen=True, slots=True)
class OidcClient:
    client_id: str
    client_secret: str
    redirect_uris: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Grant:
    client_id: str
    redirect_uri: str
    user: OidcUser
    nonce: str | None
    code_challenge: str
    expires_at: float


def new_rsa_key() -> RSAKey:
    return RSAKey.generate_key(
        2048, parameters={"kid": secrets.token_hex(8), "alg": "RS256", "use": "sig"}
    )


@dataclass
class OidcState:
    """The provider's data; ``issuer`` is set to the server's URL when it starts."""

    issuer: str = "http://127.0.0.1"
    clients: dict[str, OidcClient] = field(default_factory=dict)
    users: list[OidcUser] = field(default_factory=list)
    key: RSAKey = field(default_factory=new_rsa_key)
    # Claims put over the next ID token's (an ``aud`` of another client, a past ``exp``…).
    next_claims: dict[str, Any] = field(default_factory=dict)
    # Sign the next ID token with a key the JWKS does not publish.
    next_signed_by_stranger: bool = False
    codes: dict[str, Grant] = field(default_factory=dict)
    tokens_issued: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add_client(self, client_id: str, client_secret: str, redirect_uri: str) -> OidcClient:
        client = OidcClient(client_id, client_secret, (redirect_uri,))
        with self.lock:
            self.clients[client_id] = client
        return client

    def add_user(
        self, email: str, *, email_verified: bool = True, name: str = "", sub: str | None = None
    ) -> OidcUser:
        user = OidcUser(sub or secrets.token_hex(8), email, email_verified, name or email)
        with self.lock:
            self.users.append(user)
        return user

    def user(self, sub: str) -> OidcUser | None:
        return next((u for u in self.users if u.sub == sub), None)

    def issue_code(
        self,
        *,
        client_id: str,
        redirect_uri: str,
        user: OidcUser,
        nonce: str | None,
        code_challenge: str,
    ) -> str:
        code = secrets.token_urlsafe(24)
        with self.lock:
            self.codes[code] = Grant(
                client_id,
                redirect_uri,
                user,
                nonce,
                code_challenge,
                time.time() + CODE_TTL_SECONDS,
            )
        return code

    def redeem(self, code: str) -> Grant | None:
        """The grant of an unexpired code, used up by this call."""
        with self.lock:
            grant = self.codes.pop(code, None)
        if grant is None or grant.expires_at < time.time():
            return None
        return grant

    def id_token(self, grant: Grant) -> str:
        """Sign the grant's ID token (RS256, ``kid`` in the header), after any knob's change."""
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "sub": grant.user.sub,
            "aud": grant.client_id,
            "iat": now,
            "exp": now + ID_TOKEN_TTL_SECONDS,
            "email": grant.user.email,
            "email_verified": grant.user.email_verified,
            "name": grant.user.name,
        }
        if grant.nonce is not None:
            claims["nonce"] = grant.nonce
        with self.lock:
            claims.update(self.next_claims)
            self.next_claims = {}
            key = new_rsa_key() if self.next_signed_by_stranger else self.key
            self.next_signed_by_stranger = False
            self.tokens_issued += 1
        return jwt.encode({"alg": "RS256", "kid": str(key.kid), "typ": "JWT"}, claims, key)


def s256(verifier: str) -> str:
    """The PKCE S256 challenge of a code verifier (RFC 7636 §4.2)."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")
