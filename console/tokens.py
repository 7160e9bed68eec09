"""Admin API tokens in the console: owners create one for their shop (shown once) and revoke
them; the same token service as ``tsunagu token``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from console.auth import CurrentStaff, DbSession, FormStaff, Staff, client_ip
from console.context import PREFIX, render
from core import audit, tenancy
from core.errors import NotFound
from core.ids import RowId
from core.tenancy import ApiToken
from staff.permissions import Action

router = APIRouter()


@router.get("/tokens")
def tokens_page(request: Request, staff: CurrentStaff, session: DbSession) -> Response:
    """The shop's API tokens: which are live, when each was last used."""
    staff.require(Action.MANAGE_TOKENS)
    return _page(request, staff, session)


def _page(
    request: Request,
    staff: Staff,
    session: Session,
    *,
    created: str | None = None,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    tokens = session.scalars(
        select(ApiToken)
        .where(ApiToken.shop_id == staff.shop.id)
        .order_by(ApiToken.revoked_at.is_not(None), ApiToken.created_at.desc(), ApiToken.id.desc())
    ).all()
    return render(
        request,
        "account/tokens.html",
        {"tokens": tokens, "created": created, "error": error},
        status_code=status_code,
    )


@router.post("/tokens")
def create_token(
    request: Request,
    staff: FormStaff,
    session: DbSession,
    name: Annotated[str, Form(min_length=1, max_length=100)],
) -> Response:
    """Issue a token for the shop; the page that answers is the only place it is shown."""
    staff.require(Action.MANAGE_TOKENS)
    name = name.strip()
    taken = session.scalar(
        select(ApiToken.id).where(ApiToken.shop_id == staff.shop.id, ApiToken.name == name)
    )
    if not name or taken is not None:
        return _page(request, staff, session, error="taken" if name else "empty", status_code=400)
    token, plaintext = tenancy.create_token(session, shop=staff.shop, name=name)
    _audit(request, session, staff, "api_token.created", token)
    return _page(request, staff, session, created=plaintext)


@router.post("/tokens/{token_id}/revoke")
def revoke_token(
    request: Request, token_id: RowId, staff: FormStaff, session: DbSession
) -> Response:
    """Revoke a token at once: API calls with it are refused from now on."""
    staff.require(Action.MANAGE_TOKENS)
    token = session.get(ApiToken, token_id)
    if token is None or token.shop_id != staff.shop.id:
        raise NotFound("no such API token in this shop")
    tenancy.revoke_token(session, shop=staff.shop, name=token.name)
    _audit(request, session, staff, "api_token.revoked", token)
    return RedirectResponse(f"{PREFIX}/tokens", status_code=303)


def _audit(request: Request, session: Session, staff: Staff, action: str, token: ApiToken) -> None:
    audit.record(
        session,
        shop_id=staff.shop.id,
        actor=staff.actor,
        action=action,
        subject_type="api_token",
        subject_id=token.id,
        name=token.name,
        prefix=token.prefix,
        ip=client_ip(request),
    )
