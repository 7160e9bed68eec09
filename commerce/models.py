"""Connections to the shop's other systems, their sync state, and what they told us:
purchases (with their lines) and bookings."""

from __future__ import annotations

import enum
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    ForeignKey,
    Index,
    Numeric,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.clock import utcnow
from core.crypto import EncryptedText
from core.db import Base


class ConnectionStatus(enum.StrEnum):
    ACTIVE = "active"
    PAUSED = "paused"
    DISABLED = "disabled"


class Connection(Base):
    """One configured source system of a shop (a Shopify store, a Salesforce org, …)."""

    __tablename__ = "connections"

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id"), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(100))
    base_url: Mapped[str | None] = mapped_column(Text)
    # JSON document of the connection's secrets (tokens, keys, webhook secrets), encrypted.
    credentials: Mapped[str] = mapped_column(EncryptedText)
    options: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    timezone: Mapped[str] = mapped_column(String(64), default="Asia/Tokyo")
    status: Mapped[str] = mapped_column(String(16), default=ConnectionStatus.ACTIVE)
    status_reason: Mapped[str | None] = mapped_column(Text)
    paused_until: Mapped[datetime | None]
    sync_interval_seconds: Mapped[int] = mapped_column(default=900)
    # A lease, not a lock held by a connection: a crashed run's lease simply expires.
    sync_lease_until: Mapped[datetime | None]
    sync_lease_owner: Mapped[str | None] = mapped_column(String(64))
    last_sync_started_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (UniqueConstraint("shop_id", "name"),)


class ConnectorState(Base):
    """The checkpoint (cursor) of one stream of one connection."""

    __tablename__ = "connector_states"

    connection_id: Mapped[int] = mapped_column(ForeignKey("connections.id"), primary_key=True)
    stream: Mapped[str] = mapped_column(String(64), primary_key=True)
    cursor: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class SyncRunStatus(enum.StrEnum):
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    PAUSED = "paused"


class SyncRun(Base):
    """One run of one stream: when, how far, how many, and how it ended."""

    __tablename__ = "sync_runs"

    id: Mapped[int] = mapped_column(primary_key=True)
    connection_id: Mapped[int] = mapped_column(ForeignKey("connections.id"), index=True)
    stream: Mapped[str] = mapped_column(String(64))
    mode: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), default=SyncRunStatus.RUNNING)
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]
    pages: Mapped[int] = mapped_column(default=0)
    counts: Mapped[dict[str, int]] = mapped_column(JSON, default=dict)
    cursor_before: Mapped[str | None] = mapped_column(Text)
    cursor_after: Mapped[str | None] = mapped_column(Text)
    error: Mapped[str | None] = mapped_column(Text)


class Purchase(Base):
    """An order from a store, attached to a member once its buyer is resolved."""

    __tablename__ = "purchases"

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id"))
    connection_id: Mapped[int] = mapped_column(ForeignKey("connections.id"))
    external_id: Mapped[str] = mapped_column(String(128))
    name: Mapped[str] = mapped_column(String(128))
    identity_id: Mapped[int | None] = mapped_column(ForeignKey("external_identities.id"))
    member_id: Mapped[int | None] = mapped_column(ForeignKey("members.id"))
    currency: Mapped[str] = mapped_column(String(3))
    total: Mapped[Decimal] = mapped_column(Numeric(18, 4))
    refunded_total: Mapped[Decimal] = mapped_column(Numeric(18, 4), default=Decimal(0))
    financial_status: Mapped[str | None] = mapped_column(String(32))
    discount_codes: Mapped[list[str]] = mapped_column(JSON, default=list)
    test: Mapped[bool] = mapped_column(default=False)
    ordered_at: Mapped[datetime]
    source_updated_at: Mapped[datetime]
    cancelled_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # When the hub last wrote the row (any upsert path): what purchase triggers page through.
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    items: Mapped[list[PurchaseItem]] = relationship(
        back_populates="purchase", cascade="all, delete-orphan", order_by="PurchaseItem.id"
    )

    __table_args__ = (
        UniqueConstraint("connection_id", "external_id"),
        Index("ix_purchases_member_ordered", "member_id", "ordered_at"),
        Index("ix_purchases_identity", "identity_id"),
        Index("ix_purchases_shop_updated", "shop_id", "updated_at"),
    )


class PurchaseItem(Base):
    __tablename__ = "purchase_items"

    id: Mapped[int] = mapped_column(primary_key=True)
    purchase_id: Mapped[int] = mapped_column(ForeignKey("purchases.id", ondelete="CASCADE"))
    external_id: Mapped[str] = mapped_column(String(128))
    title: Mapped[str] = mapped_column(Text)
    quantity: Mapped[int]
    price: Mapped[Decimal] = mapped_column(Numeric(18, 4))
    sku: Mapped[str | None] = mapped_column(String(128), index=True)
    product_id: Mapped[str | None] = mapped_column(String(128), index=True)
    variant_id: Mapped[str | None] = mapped_column(String(128))

    purchase: Mapped[Purchase] = relationship(back_populates="items")

    __table_args__ = (Index("ix_purchase_items_purchase", "purchase_id"),)


class ProductGroup(Base):
    """A store's group of products (a Shopify collection), refreshed whole by its connector.

    Purchase triggers match a line's ``product_id`` against the members of the groups named.
    """

    __tablename__ = "product_groups"

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id"))
    connection_id: Mapped[int] = mapped_column(ForeignKey("connections.id", ondelete="CASCADE"))
    external_id: Mapped[str] = mapped_column(String(128))
    handle: Mapped[str] = mapped_column(String(255))
    title: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    __table_args__ = (
        UniqueConstraint("connection_id", "external_id", name="uq_product_groups_external"),
        Index("ix_product_groups_shop_handle", "shop_id", "handle"),
    )


class ProductGroupMember(Base):
    __tablename__ = "product_group_members"

    group_id: Mapped[int] = mapped_column(
        ForeignKey("product_groups.id", ondelete="CASCADE"), primary_key=True
    )
    product_id: Mapped[str] = mapped_column(String(128), primary_key=True)

    __table_args__ = (Index("ix_product_group_members_product", "product_id"),)


class Booking(Base):
    """A reservation from a reservation system or the CRM; the newest version wins."""

    __tablename__ = "bookings"

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id"))
    connection_id: Mapped[int] = mapped_column(ForeignKey("connections.id"))
    external_id: Mapped[str] = mapped_column(String(128))
    identity_id: Mapped[int | None] = mapped_column(ForeignKey("external_identities.id"))
    member_id: Mapped[int | None] = mapped_column(ForeignKey("members.id"))
    status: Mapped[str] = mapped_column(String(16))
    start_at: Mapped[datetime]
    end_at: Mapped[datetime | None]
    timezone: Mapped[str] = mapped_column(String(64))
    service: Mapped[str | None] = mapped_column(Text)
    staff: Mapped[str | None] = mapped_column(Text)
    location: Mapped[str | None] = mapped_column(Text)
    # Replaced by a reschedule that created a new booking (Cal.com gives the new one a new id).
    superseded_by_id: Mapped[int | None] = mapped_column(ForeignKey("bookings.id"))
    version: Mapped[int | None] = mapped_column(BigInteger)
    source_updated_at: Mapped[datetime]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # When the hub last wrote the row (any upsert path): what visit reminders page through.
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    __table_args__ = (
        UniqueConstraint("connection_id", "external_id"),
        Index("ix_bookings_member_start", "member_id", "start_at"),
        Index("ix_bookings_identity", "identity_id"),
        Index("ix_bookings_shop_updated", "shop_id", "updated_at"),
    )
