"""Who is calling the admin API: the token's shop (``api.deps.CurrentShop``) and its name."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy import select

from api.deps import CurrentShop, DbSession
from core.crypto import sha256_hex
from core.tenancy import ApiToken


def get_actor(request: Request, session: DbSession, shop: CurrentShop) -> str:
    """How audit records name the caller: ``token:<name>`` (``CurrentShop`` verified the token)."""
    _scheme, _, token = request.headers.get("authorization", "").partition(" ")
    name = session.scalar(
        select(ApiToken.name).where(
            ApiToken.shop_id == shop.id, ApiToken.token_hash == sha256_hex(token.strip())
        )
    )
    return f"token:{name}"


Actor = Annotated[str, Depends(get_actor)]
