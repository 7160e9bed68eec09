"""Who is calling the admin API: the token's shop (``api.deps.CurrentShop``) and its name."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from api.deps import CurrentShop, DbSession
from core.queries import token_name


def get_actor(request: Request, session: DbSession, shop: CurrentShop) -> str:
    """How audit records name the caller: ``token:<name>`` (``CurrentShop`` verified the token)."""
    _scheme, _, token = request.headers.get("authorization", "").partition(" ")
    name = token_name(session, shop.id, token.strip())
    return f"token:{name}"


Actor = Annotated[str, Depends(get_actor)]
