"""Typed records every connector normalises into: what the hub keeps of customers, purchases
and bookings, whatever system they came from. Connectors return these, never vendor dicts."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any


@dataclass(frozen=True, slots=True)
class Contact:
    """The strong keys a record carries for identity resolution (never names)."""

    email: str | None = None
    phone: str | None = None
    member_number: str | None = None
    line_user_id: str | None = None
    name: str | None = None

    @property
    def is_empty(self) -> bool:
        return not (self.email or self.phone or self.member_number or self.line_user_id)


@dataclass(frozen=True, slots=True)
class CustomerRecord:
    """A customer or contact of an external system."""

    external_id: str
    updated_at: datetime
    contact: Contact
    tags: tuple[str, ...] = ()
    attributes: dict[str, Any] = field(default_factory=dict)
    deleted: bool = False


@dataclass(frozen=True, slots=True)
class PurchaseItemRecord:
    external_id: str
    title: str
    quantity: int
    price: Decimal
    sku: str | None = None
    product_id: str | None = None
    variant_id: str | None = None


@dataclass(frozen=True, slots=True)
class PurchaseRecord:
    """An order: its lines, money, state, and who bought it."""

    external_id: str
    name: str
    created_at: datetime
    updated_at: datetime
    currency: str
    total: Decimal
    contact: Contact
    customer_external_id: str | None = None
    financial_status: str | None = None
    cancelled_at: datetime | None = None
    refunded_total: Decimal = Decimal(0)
    discount_codes: tuple[str, ...] = ()
    items: tuple[PurchaseItemRecord, ...] = ()
    test: bool = False


class BookingStatus(enum.StrEnum):
    PENDING = "pending"
    CONFIRMED = "confirmed"
    CANCELLED = "cancelled"
    REJECTED = "rejected"
    COMPLETED = "completed"
    NO_SHOW = "no_show"
    RESCHEDULED = "rescheduled"


@dataclass(frozen=True, slots=True)
class BookingRecord:
    """A reservation: when, what, where, for whom, and which version of it this is."""

    external_id: str
    status: BookingStatus
    start_at: datetime
    end_at: datetime | None
    updated_at: datetime
    contact: Contact
    customer_external_id: str | None = None
    service: str | None = None
    staff: str | None = None
    location: str | None = None
    timezone: str = "Asia/Tokyo"
    previous_external_id: str | None = None
    version: int | None = None
    deleted: bool = False


@dataclass(frozen=True, slots=True)
class ProductGroupRecord:
    """A group of products a store keeps (a Shopify collection), with who is in it now."""

    external_id: str
    handle: str
    title: str
    product_ids: tuple[str, ...]
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class ProductGroupsSeen:
    """The end of a full read of a store's product groups: any group not listed is gone."""

    external_ids: tuple[str, ...]


Record = CustomerRecord | PurchaseRecord | BookingRecord | ProductGroupRecord | ProductGroupsSeen
