"""Coupon pools in and out of the admin API and the console."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from commerce.coupons.queries import CouponReport, PoolRow


class PoolCreate(BaseModel):
    """A pool on a new code discount (``percentage`` or ``amount``) or on ``discount_id``."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100)
    connection_id: int = Field(ge=1, description="The Shopify connection's id.")
    title: str = Field(min_length=1, max_length=255, description="The discount's title.")
    code_prefix: str = Field(pattern=r"^[A-Za-z0-9]{1,20}$", description="e.g. WINTER")
    percentage: Decimal | None = Field(None, gt=0, le=100)
    amount: Decimal | None = Field(None, gt=0)
    discount_id: str | None = Field(
        None, max_length=255, pattern=r"^gid://shopify/\w+/\d+$", description="An existing one."
    )

    @model_validator(mode="after")
    def _one_discount(self) -> PoolCreate:
        given = [v for v in (self.percentage, self.amount, self.discount_id) if v is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of percentage, amount or discount_id")
        return self


class CodesRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    count: int = Field(ge=1, le=1_000_000, description="How many new codes to make.")


class ReportOut(BaseModel):
    issued: int
    redeemed: int
    rate: float
    revenue: dict[str, Decimal]
    median_hours_to_redeem: float | None

    @classmethod
    def of(cls, found: CouponReport) -> ReportOut:
        return cls(
            issued=found.issued,
            redeemed=found.redeemed,
            rate=round(found.rate, 4),
            revenue=found.revenue,
            median_hours_to_redeem=found.median_hours_to_redeem,
        )


class CodeCounts(BaseModel):
    new: int
    importing: int
    ready: int
    refused: int
    free: int


class PoolOut(BaseModel):
    id: int
    name: str
    title: str
    discount_id: str
    code_prefix: str
    connection_id: int
    created_at: datetime
    codes: CodeCounts
    report: ReportOut

    @classmethod
    def of(cls, row: PoolRow) -> PoolOut:
        pool = row.pool
        return cls(
            id=pool.id,
            name=pool.name,
            title=pool.title,
            discount_id=pool.discount_id,
            code_prefix=pool.code_prefix,
            connection_id=pool.connection_id,
            created_at=pool.created_at,
            codes=CodeCounts(
                new=row.codes.new,
                importing=row.codes.submitted,
                ready=row.codes.ready,
                refused=row.codes.failed,
                free=row.free,
            ),
            report=ReportOut.of(row.report),
        )


class PoolList(BaseModel):
    items: list[PoolOut]


class CampaignReportOut(BaseModel):
    campaign_id: int
    campaign: str
    report: ReportOut


class PoolDetail(PoolOut):
    campaigns: list[CampaignReportOut]


class CodesRequested(BaseModel):
    made: int
    pool: PoolOut
