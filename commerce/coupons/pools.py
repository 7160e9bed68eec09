"""Coupon pools: made on a Shopify connection, for a new code discount or an existing one, and
filled with codes that are first rows here, then imported into Shopify (see ``filling``)."""

from __future__ import annotations

import re
import secrets
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import Session

from commerce.connections import config_of
from commerce.coupons.models import CodeStatus, CouponCode, CouponPool
from commerce.models import Connection
from connectors.errors import ConnectorError
from connectors.shopify import discounts
from connectors.shopify.client import ShopifyClient
from connectors.shopify.connector import ShopifyConnector
from core import audit
from core.clock import utcnow
from core.db import insert
from core.enqueue import enqueue_after_commit
from core.errors import BadRequest, Conflict, HubError, NotFound

if TYPE_CHECKING:
    from commerce.coupons.schemas import PoolCreate

# No 0/O, 1/I/L: codes are read off a phone and typed at a till.
ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
RANDOM_LENGTH = 10
MAX_REQUEST = 1_000_000
_PREFIX = re.compile(r"^[A-Z0-9]{1,20}$")


class PoolNotFound(NotFound):
    """No coupon pool of that name in this shop."""


class ShopifyRefused(HubError):
    """The store refused (or could not be reached) to create the discount."""

    status_code = 502


def shopify_client(connection: Connection) -> ShopifyClient:
    """The GraphQL client of the pool's store (a Shopify connection)."""
    if connection.kind != "shopify":
        raise BadRequest(
            f"connection {connection.name!r} is a {connection.kind} connection; coupon pools "
            "need a Shopify one"
        )
    return ShopifyConnector(config_of(connection)).client


def find(session: Session, *, shop_id: int, name: str) -> CouponPool | None:
    return session.scalar(
        select(CouponPool).where(CouponPool.shop_id == shop_id, CouponPool.name == name)
    )


def get(session: Session, *, shop_id: int, name: str) -> CouponPool:
    pool = find(session, shop_id=shop_id, name=name)
    if pool is None:
        raise PoolNotFound(f"no coupon pool {name!r}: `tsunagu coupon list` shows them")
    return pool


def get_by_id(session: Session, *, shop_id: int, pool_id: int) -> CouponPool:
    """The shop's pool ``pool_id``; another shop's is not found."""
    pool = session.get(CouponPool, pool_id)
    if pool is None or pool.shop_id != shop_id:
        raise PoolNotFound(f"no coupon pool {pool_id} in this shop: GET /coupon-pools lists them")
    return pool


def create_pool(
    session: Session,
    *,
    shop_id: int,
    connection: Connection,
    name: str,
    title: str,
    code_prefix: str,
    actor: str,
    discount_id: str | None = None,
    percentage: Decimal | None = None,
    amount: Decimal | None = None,
    starts_at: datetime | None = None,
    client: ShopifyClient | None = None,
    now: datetime | None = None,
) -> CouponPool:
    """A pool on the discount ``discount_id``, or on a new one taking off ``percentage`` (or
    ``amount``) once per customer, created in the store now."""
    now = now or utcnow()
    prefix = code_prefix.upper()
    if not _PREFIX.match(prefix):
        raise BadRequest("a code prefix is 1 to 20 letters and digits, e.g. WINTER")
    if connection.shop_id != shop_id:
        raise NotFound(f"no connection {connection.id} in this shop")
    if find(session, shop_id=shop_id, name=name) is not None:
        raise Conflict(f"the shop already has a coupon pool named {name!r}")
    if discount_id is None:
        if (percentage is None) == (amount is None):
            raise BadRequest("give the discount's percentage or its amount (one of them)")
        if percentage is not None and not 0 < percentage <= 100:
            raise BadRequest("a percentage is more than 0 and at most 100")
        if amount is not None and amount <= 0:
            raise BadRequest("an amount is more than 0")
        try:
            discount_id = discounts.create_discount(
                client or shopify_client(connection),
                title=title,
                first_code=f"{prefix}-{_random()}",
                value=discounts.DiscountValue(percentage=percentage, amount=amount),
                starts_at=(starts_at or now).strftime("%Y-%m-%dT%H:%M:%SZ"),
            )
        except ConnectorError as exc:
            raise ShopifyRefused(str(exc)) from exc
    pool = CouponPool(
        shop_id=shop_id,
        connection_id=connection.id,
        name=name,
        title=title,
        discount_id=discount_id,
        code_prefix=prefix,
        created_at=now,
    )
    session.add(pool)
    session.flush()
    audit.record(
        session,
        shop_id=shop_id,
        actor=actor,
        action="coupon_pool.created",
        subject_type="coupon_pool",
        subject_id=pool.id,
        now=now,
        name=name,
        discount_id=discount_id,
    )
    return pool


def request_codes(
    session: Session, *, pool: CouponPool, count: int, actor: str, now: datetime | None = None
) -> int:
    """Make ``count`` new codes for the pool (rows only: filling imports them into Shopify)."""
    if not 1 <= count <= MAX_REQUEST:
        raise BadRequest(f"ask for 1 to {MAX_REQUEST:,} codes at a time")
    now = now or utcnow()
    made = 0
    while made < count:
        size = min(10_000, count - made)
        rows = []
        for _ in range(size):
            code = f"{pool.code_prefix}-{_random()}"
            rows.append(
                {
                    "shop_id": pool.shop_id,
                    "pool_id": pool.id,
                    "code": code,
                    "code_key": code.upper(),
                    "status": CodeStatus.NEW,
                }
            )
        statement = insert(session, CouponCode).on_conflict_do_nothing()
        made += len(session.execute(statement.returning(CouponCode.id), rows).all())
    audit.record(
        session,
        shop_id=pool.shop_id,
        actor=actor,
        action="coupon_pool.codes_requested",
        subject_type="coupon_pool",
        subject_id=pool.id,
        now=now,
        count=count,
    )
    return made


def create_from(session: Session, *, shop_id: int, body: PoolCreate, actor: str) -> CouponPool:
    """A pool as the admin API and the console's form describe it."""
    connection = session.get(Connection, body.connection_id)
    if connection is None or connection.shop_id != shop_id:
        raise NotFound(f"no connection {body.connection_id} in this shop")
    return create_pool(
        session,
        shop_id=shop_id,
        connection=connection,
        name=body.name,
        title=body.title,
        code_prefix=body.code_prefix,
        discount_id=body.discount_id,
        percentage=body.percentage,
        amount=body.amount,
        actor=actor,
    )


def order_codes(session: Session, *, pool: CouponPool, count: int, actor: str) -> int:
    """Make ``count`` codes now; a worker (``coupons.fill``) imports them once this commits."""
    made = request_codes(session, pool=pool, count=count, actor=actor)
    enqueue_after_commit(session, "coupons.fill", pool_id=pool.id)
    return made


def _random() -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(RANDOM_LENGTH))
