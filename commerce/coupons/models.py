"""Coupon pools, the bulk creations that put their codes in Shopify, and the codes themselves.

A code is made here first (``new``), then sent to Shopify in a batch of at most 250
(``submitted``), and is ``ready`` once Shopify imported it (``failed`` with Shopify's reason if
not). A ready code is given to one friend for one send (``assigned_for``, e.g.
``campaign:12``); the unique constraint on (pool, send, friend) makes a retried send find the
same code, and a code row holds one friend at most, so no code is ever given twice.
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from core.clock import utcnow
from core.db import Base


class CodeStatus(enum.StrEnum):
    NEW = "new"
    SUBMITTED = "submitted"
    READY = "ready"
    FAILED = "failed"


class CouponPool(Base):
    """One Shopify code discount whose codes are handed out one per friend."""

    __tablename__ = "coupon_pools"

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id"))
    connection_id: Mapped[int] = mapped_column(ForeignKey("connections.id"))
    name: Mapped[str] = mapped_column(String(100))
    title: Mapped[str] = mapped_column(String(255))
    # The Shopify DiscountCodeNode the codes belong to.
    discount_id: Mapped[str] = mapped_column(String(255))
    code_prefix: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (UniqueConstraint("shop_id", "name"),)


class CouponBatch(Base):
    """One ``discountRedeemCodeBulkAdd`` call and what Shopify said of it."""

    __tablename__ = "coupon_batches"

    id: Mapped[int] = mapped_column(primary_key=True)
    pool_id: Mapped[int] = mapped_column(ForeignKey("coupon_pools.id"), index=True)
    bulk_creation_id: Mapped[str | None] = mapped_column(String(255))
    done: Mapped[bool] = mapped_column(default=False)
    codes_count: Mapped[int] = mapped_column(default=0)
    imported_count: Mapped[int] = mapped_column(default=0)
    failed_count: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]


class CouponCode(Base):
    """A code of a pool: its state in Shopify, the friend it went to, the order that used it."""

    __tablename__ = "coupon_codes"

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id"))
    pool_id: Mapped[int] = mapped_column(ForeignKey("coupon_pools.id"))
    batch_id: Mapped[int | None] = mapped_column(ForeignKey("coupon_batches.id"))
    code: Mapped[str] = mapped_column(String(64))
    # The code upper-cased: Shopify compares codes without regard to case.
    code_key: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default=CodeStatus.NEW)
    error: Mapped[str | None] = mapped_column(Text)
    friend_id: Mapped[int | None] = mapped_column(ForeignKey("friends.id"))
    assigned_for: Mapped[str | None] = mapped_column(String(128))
    campaign_id: Mapped[int | None] = mapped_column(ForeignKey("campaigns.id"))
    assigned_at: Mapped[datetime | None]
    purchase_id: Mapped[int | None] = mapped_column(ForeignKey("purchases.id"))
    redeemed_at: Mapped[datetime | None]

    __table_args__ = (
        UniqueConstraint("shop_id", "code_key"),
        UniqueConstraint("pool_id", "assigned_for", "friend_id"),
        Index("ix_coupon_codes_pool_status_friend", "pool_id", "status", "friend_id"),
        Index("ix_coupon_codes_campaign", "campaign_id"),
    )
