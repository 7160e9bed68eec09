"""Coupon pools in a ``tsunagu apply`` file, before the campaigns that name them::

    coupon_pools:
      - name: winter
        connection: main-store        # the Shopify connection's name
        title: Winter thanks 10%
        code_prefix: WINTER
        percentage: 10                # or amount: 500, or discount_id: gid://shopify/…
        codes: 5000                   # at least this many codes (imported by a worker)

The discount is made in the store (or found by ``discount_id``) when the pool is created, and
a pool keeps its discount: its percentage, amount or id is read then and never compared again
(a new discount is a new pool). The title and the prefix of later codes may change. ``codes``
is a floor: a pool holding fewer codes (ready, or on their way into Shopify) gets the missing
ones, and one holding more, because staff made more in the console, is left as it is.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from pydantic import Field, model_validator
from sqlalchemy import select
from sqlalchemy.orm import Session

from commerce.coupons import pools
from commerce.coupons.filling import progress_of
from commerce.coupons.models import CouponPool
from commerce.models import Connection
from core import audit
from core.errors import Conflict, NotFound
from messaging.compose.schemas import NamedSpec

# Read when the pool is made, never compared afterwards.
DISCOUNT_FIELDS = ("percentage", "amount", "discount_id")


class CouponPoolSpec(NamedSpec):
    """A coupon pool as the file declares it."""

    name: str = Field(min_length=1, max_length=100)
    connection: str = Field(
        min_length=1, max_length=100, description="The Shopify connection's name."
    )
    title: str = Field(min_length=1, max_length=255, description="The discount's title.")
    code_prefix: str = Field(pattern=r"^[A-Z0-9]{1,20}$", description="e.g. WINTER")
    percentage: Decimal | None = Field(None, gt=0, le=100)
    amount: Decimal | None = Field(None, gt=0)
    discount_id: str | None = Field(None, max_length=255, pattern=r"^gid://shopify/\w+/\d+$")
    codes: int = Field(0, ge=0, le=pools.MAX_REQUEST, description="At least this many codes.")

    @model_validator(mode="after")
    def _one_discount(self) -> CouponPoolSpec:
        given = [v for v in (self.percentage, self.amount, self.discount_id) if v is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of percentage, amount or discount_id")
        return self


def names(session: Session, shop_id: int) -> list[str]:
    return list(
        session.scalars(
            select(CouponPool.name).where(CouponPool.shop_id == shop_id).order_by(CouponPool.name)
        )
    )


def _made(session: Session, pool_id: int) -> int:
    """The pool's codes that count: ready, or on their way into Shopify (not refused)."""
    progress = progress_of(session, pool_id)
    return progress.new + progress.submitted + progress.ready


def current(session: Session, shop_id: int, name: str) -> dict[str, Any] | None:
    pool = pools.find(session, shop_id=shop_id, name=name)
    if pool is None:
        return None
    connection = session.get_one(Connection, pool.connection_id)
    return {
        "name": pool.name,
        "connection": connection.name,
        "title": pool.title,
        "code_prefix": pool.code_prefix,
        "codes": _made(session, pool.id),
    }


def reconcile(current: dict[str, Any], declared: dict[str, Any]) -> dict[str, Any]:
    """The hub's pool as the file reads it: the discount is the one it was made with, and
    holding more codes than the file asks for is holding enough."""
    found = {**current, **{k: declared[k] for k in DISCOUNT_FIELDS if k in declared}}
    if found.get("codes", 0) >= declared.get("codes", 0):
        found["codes"] = declared.get("codes", 0)
    if not found["codes"]:
        found.pop("codes")
    return found


def save(session: Session, shop_id: int, spec: CouponPoolSpec, actor: str) -> CouponPool:
    """Make the pool (and its discount), or bring its title and prefix up to the file; then
    make the codes it lacks (a worker imports them into Shopify once this commits)."""
    pool = pools.find(session, shop_id=shop_id, name=spec.name)
    if pool is None:
        connection = session.scalar(
            select(Connection).where(
                Connection.shop_id == shop_id,
                Connection.kind == "shopify",
                Connection.name == spec.connection,
            )
        )
        if connection is None:
            raise NotFound(f"coupon pool {spec.name!r}: no Shopify connection {spec.connection!r}")
        pool = pools.create_pool(
            session,
            shop_id=shop_id,
            connection=connection,
            name=spec.name,
            title=spec.title,
            code_prefix=spec.code_prefix,
            discount_id=spec.discount_id,
            percentage=spec.percentage,
            amount=spec.amount,
            actor=actor,
        )
    elif session.get_one(Connection, pool.connection_id).name != spec.connection:
        raise Conflict(
            f"coupon pool {spec.name!r} stays on the connection it was made on: make a new pool"
        )
    elif (pool.title, pool.code_prefix) != (spec.title, spec.code_prefix):
        pool.title, pool.code_prefix = spec.title, spec.code_prefix
        audit.record(
            session,
            shop_id=shop_id,
            actor=actor,
            action="coupon_pool.changed",
            subject_type="coupon_pool",
            subject_id=pool.id,
            title=spec.title,
            code_prefix=spec.code_prefix,
        )
    missing = spec.codes - _made(session, pool.id)
    if missing > 0:
        pools.order_codes(session, pool=pool, count=missing, actor=actor)
    return pool
