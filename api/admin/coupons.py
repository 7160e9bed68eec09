"""Coupon pools: list them with their reports, make one, ask for codes (imported into Shopify
by a worker), and a pool's report per campaign."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from api.admin.auth import Actor
from api.admin.schemas import ErrorBody
from api.deps import CurrentShop, DbSession
from commerce.coupons import pools, queries
from commerce.coupons.schemas import (
    CampaignReportOut,
    CodesRequest,
    CodesRequested,
    PoolCreate,
    PoolDetail,
    PoolList,
    PoolOut,
    ReportOut,
)
from core.ids import RowId
from messaging.campaigns import campaigns

router = APIRouter(tags=["coupons"])

NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorBody, "description": "No such coupon pool (or connection) in this shop"}
}


@router.get("/coupon-pools", summary="List coupon pools")
def list_pools(session: DbSession, shop: CurrentShop) -> PoolList:
    """Every pool with its codes by state (free: ready and given to nobody) and its report:
    issued, redeemed, rate, revenue per currency, median hours to redeem."""
    return PoolList(items=[PoolOut.of(row) for row in queries.pools(session, shop_id=shop.id)])


@router.post(
    "/coupon-pools",
    summary="Create a coupon pool",
    status_code=201,
    responses=NOT_FOUND
    | {
        400: {"model": ErrorBody, "description": "Not a Shopify connection"},
        409: {"model": ErrorBody, "description": "The shop has a pool by that name"},
        502: {"model": ErrorBody, "description": "Shopify refused to create the discount"},
    },
)
def create_pool(body: PoolCreate, session: DbSession, shop: CurrentShop, actor: Actor) -> PoolOut:
    """A pool on an existing code discount, or on a new one made in the store now (for every
    customer, once per customer)."""
    pool = pools.create_from(session, shop_id=shop.id, body=body, actor=actor)
    return PoolOut.of(queries.pool_row(session, pool))


@router.get("/coupon-pools/{pool_id}", summary="Get a coupon pool", responses=NOT_FOUND)
def get_pool(pool_id: RowId, session: DbSession, shop: CurrentShop) -> PoolDetail:
    """The pool and its report, in all and per campaign that handed out its codes."""
    pool = pools.get_by_id(session, shop_id=shop.id, pool_id=pool_id)
    row = PoolOut.of(queries.pool_row(session, pool))
    per_campaign = [
        CampaignReportOut(
            campaign_id=campaign_id,
            campaign=campaigns.get(session, shop_id=shop.id, campaign_id=campaign_id).name,
            report=ReportOut.of(found),
        )
        for campaign_id, found in queries.by_campaign(session, pool_id=pool.id).items()
    ]
    return PoolDetail(**row.model_dump(), campaigns=per_campaign)


@router.post(
    "/coupon-pools/{pool_id}/codes",
    summary="Make codes for a coupon pool",
    status_code=202,
    responses=NOT_FOUND,
)
def request_codes(
    pool_id: RowId, body: CodesRequest, session: DbSession, shop: CurrentShop, actor: Actor
) -> CodesRequested:
    """Make ``count`` new codes; a worker imports them into Shopify (250 a call, within the
    store's cost limits) — watch ``codes.new``, ``importing`` and ``ready`` move."""
    pool = pools.get_by_id(session, shop_id=shop.id, pool_id=pool_id)
    made = pools.order_codes(session, pool=pool, count=body.count, actor=actor)
    return CodesRequested(made=made, pool=PoolOut.of(queries.pool_row(session, pool)))
