"""A coupon pool on the sandbox Shopify store, filled with ready codes, and a segment campaign
that hands them out."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from sqlalchemy import update

from commerce.connections import create_connection
from commerce.coupons import assign, filling, pools
from commerce.coupons.models import CodeStatus, CouponCode, CouponPool
from commerce.models import Connection
from core.clock import utcnow
from core.db import Database
from core.tenancy import Channel, Shop
from messaging.campaigns import campaigns
from messaging.campaigns.models import CampaignKind, CampaignStatus
from messaging.campaigns.schemas import CampaignSpec
from messaging.segments import segments
from messaging.segments.schemas import SegmentSpec
from tests.factories import ChannelSetup
from tests.messaging import people

COUPON_TEXT = [{"type": "text", "text": "{{ coupon }} で10%オフ"}]


def make_pool(
    database: Database, shop_id: int, connection_id: int, *, codes: int, name: str = "winter"
) -> int:
    """A pool on a new 10 % discount in the store, with ``codes`` codes imported and ready."""
    with database.session_scope() as session:
        pool = pools.create_pool(
            session,
            shop_id=shop_id,
            connection=session.get_one(Connection, connection_id),
            name=name,
            title="Winter thanks",
            code_prefix="WINTER",
            percentage=Decimal(10),
            actor="test",
        )
        if codes:
            pools.request_codes(session, pool=pool, count=codes, actor="test")
        pool_id = pool.id
    filling.fill(database, pool_id=pool_id, poll_seconds=0.01)
    return pool_id


def pool_name(database: Database, pool_id: int) -> str:
    with database.session_scope() as session:
        return session.get_one(CouponPool, pool_id).name


def coupon_campaign(
    database: Database, channel: ChannelSetup, friend_ids: list[int], pool: str
) -> int:
    """The friends tagged ``coupon``, and a segment campaign to them due now; its id."""
    for friend_id in friend_ids:
        people.tag(database, friend_id, "coupon")
    with database.session_scope() as session:
        segments.save(
            session,
            shop_id=channel.shop_id,
            spec=SegmentSpec(name="coupon friends", rules={"tag": "coupon"}),
            actor="test",
        )
        campaign = campaigns.save(
            session,
            shop_id=channel.shop_id,
            channel=session.get_one(Channel, channel.channel_pk),
            spec=CampaignSpec(
                name="winter coupons",
                channel=channel.channel_id,
                kind=CampaignKind.SEGMENT,
                trigger={"segment": "coupon friends"},
                messages=COUPON_TEXT,
                coupon_pool=pool,
                scheduled_at=utcnow() - timedelta(seconds=1),
            ),
            actor="test",
        )
        campaigns.set_status(
            session, campaign=campaign, status=CampaignStatus.SCHEDULED, actor="test"
        )
        return campaign.id


def offline_pool(
    database: Database, shop_id: int, name: str = "spring", *, given_to: list[int] | None = None
) -> int:
    """A pool on a Shopify connection nobody answers at, on an existing discount (no call);
    with ``given_to``, ten codes marked ready and one given to each of those friends."""
    with database.session_scope() as session:
        connection = create_connection(
            session,
            shop=session.get_one(Shop, shop_id),
            kind="shopify",
            name=f"offline-{name}",
            base_url="http://127.0.0.1:9",
            credentials={"access_token": "shpat_offline", "client_secret": "offline"},
        )
        pool = pools.create_pool(
            session,
            shop_id=shop_id,
            connection=connection,
            name=name,
            title="Spring thanks",
            code_prefix="SPRING",
            discount_id="gid://shopify/DiscountCodeNode/1",
            actor="test",
        )
        if given_to:
            pools.request_codes(session, pool=pool, count=10, actor="test")
            session.execute(
                update(CouponCode)
                .where(CouponCode.pool_id == pool.id)
                .values(status=CodeStatus.READY)
            )
            assign.assign(session, pool=pool, assigned_for="test", friend_ids=given_to)
        return pool.id
