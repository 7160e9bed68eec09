"""クーポン: the shop's coupon pools with their reports (any staff member), a pool's report per
campaign, the campaigns handing out its codes (and whether one waits for codes) and its codes
lately given, in the shop's timezone; admins make pools and ask for codes. Same services as the
admin API."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy.orm import Session

from commerce.coupons import pools, queries
from commerce.coupons.schemas import CodesRequest, PoolCreate
from console.auth import CurrentStaff, DbSession, FormStaff, Staff
from console.context import PREFIX, render
from core.errors import HubError
from core.ids import RowId
from core.tenancy import shop_timezone
from messaging.campaigns import campaigns
from messaging.campaigns import queries as campaign_queries
from staff.permissions import Action

router = APIRouter()


def _reasons(exc: ValidationError) -> str:
    return "; ".join(str(e["msg"]).removeprefix("Value error, ") for e in exc.errors())


def _list_page(
    request: Request, staff: Staff, session: Session, *, error: str | None = None
) -> Response:
    return render(
        request,
        "coupons/list.html",
        {
            "rows": queries.pools(session, shop_id=staff.shop.id),
            "connections": queries.shopify_connections(session, shop_id=staff.shop.id),
            "can_manage": staff.can(Action.MANAGE_CAMPAIGNS),
            "error": error,
        },
        status_code=400 if error else 200,
    )


@router.get("/coupons")
def coupons_page(request: Request, staff: CurrentStaff, session: DbSession) -> Response:
    """Every pool: codes ready and free, issued, redeemed, rate, revenue, time to redeem."""
    staff.require(Action.READ_FRIENDS)
    return _list_page(request, staff, session)


@router.post("/coupons")
def create_pool(
    request: Request,
    staff: FormStaff,
    session: DbSession,
    name: Annotated[str, Form(max_length=100)],
    connection_id: Annotated[str, Form(max_length=20)],
    title: Annotated[str, Form(max_length=255)],
    code_prefix: Annotated[str, Form(max_length=20)],
    percentage: Annotated[str, Form(max_length=20)] = "",
    discount_id: Annotated[str, Form(max_length=255)] = "",
) -> Response:
    """A pool on a new percentage discount in the store, or on an existing code discount."""
    staff.require(Action.MANAGE_CAMPAIGNS)
    try:
        body = PoolCreate.model_validate(
            {
                "name": name.strip(),
                "connection_id": connection_id,
                "title": title.strip(),
                "code_prefix": code_prefix.strip(),
                "percentage": percentage.strip() or None,
                "discount_id": discount_id.strip() or None,
            }
        )
    except ValidationError as exc:
        return _list_page(request, staff, session, error=_reasons(exc))
    try:
        with session.begin_nested():
            pool = pools.create_from(session, shop_id=staff.shop.id, body=body, actor=staff.actor)
    except HubError as exc:
        return _list_page(request, staff, session, error=exc.detail)
    return RedirectResponse(f"{PREFIX}/coupons/{pool.id}", status_code=303)


def _pool_page(
    request: Request, staff: Staff, session: Session, pool_id: int, *, error: str | None = None
) -> Response:
    pool = pools.get_by_id(session, shop_id=staff.shop.id, pool_id=pool_id)
    per_campaign: list[dict[str, Any]] = [
        {
            "id": campaign_id,
            "name": campaigns.get(session, shop_id=staff.shop.id, campaign_id=campaign_id).name,
            "report": found,
        }
        for campaign_id, found in queries.by_campaign(session, pool_id=pool.id).items()
    ]
    return render(
        request,
        "coupons/pool.html",
        {
            "row": queries.pool_row(session, pool),
            "campaigns": per_campaign,
            "senders": campaign_queries.of_pool(session, shop_id=staff.shop.id, pool_id=pool.id),
            "zone": shop_timezone(session, staff.shop.id),
            "codes": queries.codes_of(session, pool_id=pool.id),
            "can_manage": staff.can(Action.MANAGE_CAMPAIGNS),
            "error": error,
        },
        status_code=400 if error else 200,
    )


@router.get("/coupons/{pool_id}")
def pool_page(
    request: Request, pool_id: RowId, staff: CurrentStaff, session: DbSession
) -> Response:
    """One pool: its report in all and per campaign, and the codes lately given."""
    staff.require(Action.READ_FRIENDS)
    return _pool_page(request, staff, session, pool_id)


@router.post("/coupons/{pool_id}/codes")
def order_codes(
    request: Request,
    pool_id: RowId,
    staff: FormStaff,
    session: DbSession,
    count: Annotated[str, Form(max_length=20)],
) -> Response:
    """Make codes; a worker imports them into Shopify (the page shows them arrive)."""
    staff.require(Action.MANAGE_CAMPAIGNS)
    pool = pools.get_by_id(session, shop_id=staff.shop.id, pool_id=pool_id)
    try:
        body = CodesRequest.model_validate({"count": count.strip()})
    except ValidationError as exc:
        return _pool_page(request, staff, session, pool.id, error=_reasons(exc))
    pools.order_codes(session, pool=pool, count=body.count, actor=staff.actor)
    return RedirectResponse(f"{PREFIX}/coupons/{pool.id}", status_code=303)
