"""Filling a pool: its new codes go to Shopify 250 at a time, and each bulk creation is followed
until Shopify says it is done.

Each step commits on its own (a stated exception to the caller-owns-the-transaction rule, as a
sync checkpoints each page): a batch is written with its ``bulkCreation`` id as soon as Shopify
answers, so a fill stopped at any point resumes by following the open batches and sending the
codes still new. The client paces every call by the store's cost bucket and waits out THROTTLED
answers; polls of a creation not yet done are spaced by ``poll_seconds``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from commerce.coupons import pools
from commerce.coupons.models import CodeStatus, CouponBatch, CouponCode, CouponPool
from commerce.models import Connection
from connectors.shopify import discounts
from connectors.shopify.client import ShopifyClient
from core.clock import utcnow
from core.db import Database


@dataclass(frozen=True, slots=True)
class FillProgress:
    """Codes of the pool by state, as a fill moves them along."""

    new: int
    submitted: int
    ready: int
    failed: int

    @property
    def total(self) -> int:
        return self.new + self.submitted + self.ready + self.failed

    @property
    def settled(self) -> int:
        return self.ready + self.failed


def progress_of(session: Session, pool_id: int) -> FillProgress:
    counts = dict(
        session.execute(
            select(CouponCode.status, func.count())
            .where(CouponCode.pool_id == pool_id)
            .group_by(CouponCode.status)
        ).all()
    )
    return FillProgress(
        new=int(counts.get(CodeStatus.NEW, 0)),
        submitted=int(counts.get(CodeStatus.SUBMITTED, 0)),
        ready=int(counts.get(CodeStatus.READY, 0)),
        failed=int(counts.get(CodeStatus.FAILED, 0)),
    )


def fill(
    database: Database,
    *,
    pool_id: int,
    client: ShopifyClient | None = None,
    on_progress: Callable[[FillProgress], None] = lambda _p: None,
    poll_seconds: float = 1.0,
    sleep: Callable[[float], None] = time.sleep,
) -> FillProgress:
    """Send the pool's new codes to Shopify and follow every open batch to its end."""
    with database.session_scope() as session:
        pool = session.get_one(CouponPool, pool_id)
        discount_id = pool.discount_id
        if client is None:
            client = pools.shopify_client(session.get_one(Connection, pool.connection_id))
        progress = progress_of(session, pool_id)
    on_progress(progress)
    # Counted as the codes move rather than re-counted per call: the pool may hold millions.
    after_id = 0
    while True:
        sent, after_id = _submit_next(database, client, pool_id, discount_id, after_id)
        if not sent:
            break
        progress = replace(progress, new=progress.new - sent, submitted=progress.submitted + sent)
        on_progress(progress)
    while True:
        with database.session_scope() as session:
            open_batches = session.scalars(
                select(CouponBatch.id).where(
                    CouponBatch.pool_id == pool_id, CouponBatch.done.is_(False)
                )
            ).all()
        for batch_id in open_batches:
            _follow(database, client, batch_id)
        with database.session_scope() as session:
            progress = progress_of(session, pool_id)
            on_progress(progress)
        if progress.submitted == 0:
            return progress
        sleep(poll_seconds)


def _submit_next(
    database: Database, client: ShopifyClient, pool_id: int, discount_id: str, after_id: int
) -> tuple[int, int]:
    """Send the next new codes after ``after_id`` (walked in id order, so each read is a short
    range of the primary key); returns how many were sent and the last id."""
    with database.session_scope() as session:
        codes = session.execute(
            select(CouponCode.id, CouponCode.code)
            .where(
                CouponCode.id > after_id,
                CouponCode.pool_id == pool_id,
                CouponCode.status == CodeStatus.NEW,
            )
            .order_by(CouponCode.id)
            .limit(discounts.MAX_CODES_PER_CALL)
        ).all()
    if not codes:
        return 0, after_id
    creation_id = discounts.add_codes(
        client, discount_id=discount_id, codes=[code for _id, code in codes]
    )
    with database.session_scope() as session:
        batch = CouponBatch(pool_id=pool_id, bulk_creation_id=creation_id, codes_count=len(codes))
        session.add(batch)
        session.flush()
        session.execute(
            update(CouponCode)
            .where(CouponCode.id.in_([code_id for code_id, _code in codes]))
            .values(status=CodeStatus.SUBMITTED, batch_id=batch.id)
        )
    return len(codes), codes[-1][0]


def _follow(database: Database, client: ShopifyClient, batch_id: int) -> None:
    with database.session_scope() as session:
        creation_id = session.get_one(CouponBatch, batch_id).bulk_creation_id
    if creation_id is None:
        return
    creation = discounts.read_creation(client, creation_id)
    with database.session_scope() as session:
        batch = session.get_one(CouponBatch, batch_id)
        batch.imported_count = creation.imported_count
        batch.failed_count = creation.failed_count
        if not creation.done:
            return
        batch.done = True
        batch.finished_at = utcnow()
        for code, reason in creation.failed.items():
            session.execute(
                update(CouponCode)
                .where(CouponCode.batch_id == batch_id, CouponCode.code == code)
                .values(status=CodeStatus.FAILED, error=reason[:1000])
            )
        session.execute(
            update(CouponCode)
            .where(CouponCode.batch_id == batch_id, CouponCode.status == CodeStatus.SUBMITTED)
            .values(status=CodeStatus.READY)
        )
