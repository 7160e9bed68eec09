"""LINE Login tokens: ES256 signing keys with a JWKS, HS256 ID tokens, and their verification."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any, Literal

from joserfc import jws, jwt
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, KeySet, OctKey

from sandbox.line.errors import OAuthError

ISSUER = "https://access.line.me"
Algorithm = Literal["ES256", "HS256"]


@dataclass
class SigningKey:
    """An ES256 key pair; retired keys stay published until ``retire_at`` passes."""

    key: ECKey
    created_at: float
    retire_at: float | None = None

    @property
    def kid(self) -> str:
        """The key ID put in the JWT header and the JWKS."""
        return str(self.key.kid)


def new_signing_key(now: float) -> SigningKey:
    """Generate a P-256 key pair with a random ``kid``, like LINE's LIFF token keys."""
    kid = secrets.token_hex(32)
    key = ECKey.generate_key("P-256", parameters={"kid": kid, "alg": "ES256", "use": "sig"})
    return SigningKey(key=key, created_at=now)


def jwks(keys: list[SigningKey]) -> dict[str, Any]:
    """Return the public JWK set published at ``/oauth2/v2.1/certs``."""
    return {"keys": [k.key.as_dict(private=False) for k in keys]}


def encode_id_token(
    claims: dict[str, Any], *, alg: Algorithm, signing_key: SigningKey | None, secret: str | None
) -> str:
    """Sign ``claims`` as LINE does: ES256 with ``kid`` in the header, or HS256 with the secret."""
    if alg == "ES256":
        assert signing_key is not None
        header = {"typ": "JWT", "alg": "ES256", "kid": signing_key.kid}
        return jwt.encode(header, claims, signing_key.key)
    if secret is None:
        raise ValueError("HS256 ID tokens need the LINE Login channel secret")
    return jwt.encode({"typ": "JWT", "alg": "HS256"}, claims, OctKey.import_key(secret.encode()))


def decode_id_token(token: str, *, keys: list[SigningKey], secret: str | None) -> dict[str, Any]:
    """Check an ID token's signature and return its claims; raise LINE's 400 when it fails."""
    try:
        header = jws.extract_compact(token.encode()).protected
    except (JoseError, ValueError) as exc:
        raise OAuthError("Invalid IdToken.") from exc
    alg = header.get("alg")
    try:
        if alg == "ES256":
            key_set = KeySet([k.key for k in keys])
            return dict(jwt.decode(token, key_set, algorithms=["ES256"]).claims)
        if alg == "HS256" and secret is not None:
            key = OctKey.import_key(secret.encode())
            return dict(jwt.decode(token, key, algorithms=["HS256"]).claims)
    except (JoseError, ValueError) as exc:
        raise OAuthError("Invalid IdToken.") from exc
    raise OAuthError("Invalid IdToken.")


def check_id_token_claims(
    claims: dict[str, Any],
    *,
    client_id: str,
    now: float,
    nonce: str | None,
    user_id: str | None,
) -> None:
    """Apply LINE's ``/oauth2/v2.1/verify`` checks, raising its exact error descriptions."""
    if claims.get("iss") != ISSUER:
        raise OAuthError("Invalid IdToken Issuer.")
    if int(claims.get("exp", 0)) <= now:
        raise OAuthError("IdToken expired.")
    if claims.get("aud") != client_id:
        raise OAuthError("Invalid IdToken Audience.")
    if nonce is not None and claims.get("nonce") != nonce:
        raise OAuthError("Invalid IdToken Nonce.")
    if user_id is not None and claims.get("sub") != user_id:
        raise OAuthError("Invalid IdToken Subject Identifier.")
