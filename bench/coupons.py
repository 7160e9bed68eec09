"""Coupon benchmark: a 100,000-friend coupon campaign's codes, made through the sandbox
Shopify's GraphQL Admin API within a Standard store's limits, then handed out one per friend.

``.venv/bin/python -m bench.coupons`` (``--help`` for the options) does, in one run:

1. drops and re-creates its own PostgreSQL database (``tsunagu_bench_coupons``), migrates it,
   registers a shop and a channel and loads N followed friends with ``COPY`` (not timed); starts
   the sandbox Shopify store over HTTP with a Standard plan's bucket (1,000 points, 100
   restored a second) and makes a pool on a new 10 % discount;
2. **timed**: makes N codes and imports them into the store as ``tsunagu coupon codes`` does
   (250 a ``discountRedeemCodeBulkAdd`` call, each bulk creation followed until done), paced by
   the bucket; the floor those limits imply is ``(calls * 10 - bucket) / restore rate``;
3. **timed**: hands the codes out to every friend for one campaign in one transaction, as a
   segment campaign's start does, then the same again (a retried start: nothing new);
4. checks: codes given twice (must be 0), friends without a code (must be 0), and prints the
   figures, kept as JSON in ``bench/results/coupons-*.json``.
"""

from __future__ import annotations

import argparse
import os
import time
from dataclasses import asdict, dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select

from bench.fanout import prepare, report

MUTATION_COST = 10


@dataclass
class Figures:
    load_average_1m: float
    friends: int
    codes: int
    bulk_add_calls: int
    throttled_answers: int
    import_seconds: float
    floor_seconds: float
    import_over_floor: float
    assign_seconds: float
    retried_assign_seconds: float
    retried_assign_new_codes: int
    codes_given_twice: int
    friends_without_code: int


def run(args: argparse.Namespace) -> Figures:
    from commerce.connections import create_connection
    from commerce.coupons import assign, filling, pools
    from commerce.coupons.models import CouponCode, CouponPool
    from connectors.shopify.client import ShopifyClient
    from core.tenancy import Shop
    from idlink.models import Friend
    from sandbox.shopify.server import ShopifyServer
    from sandbox.shopify.state import ShopifyState

    database, shop_id, _channel = prepare(args.database_url, friends=args.friends, name="coupons")
    state = ShopifyState(bucket_size=args.bucket, restore_rate=args.restore_rate)
    with ShopifyServer(state) as server:
        client = ShopifyClient(base_url=server.url, access_token=state.access_token)
        with database.session_scope() as session:
            connection = create_connection(
                session,
                shop=session.get_one(Shop, shop_id),
                kind="shopify",
                name="bench store",
                base_url=server.url,
                credentials={"access_token": state.access_token, "client_secret": "x"},
            )
            pool = pools.create_pool(
                session,
                shop_id=shop_id,
                connection=connection,
                name="bench",
                title="Bench 10%",
                code_prefix="BENCH",
                percentage=Decimal(10),
                actor="bench",
                client=client,
            )
            pools.request_codes(session, pool=pool, count=args.friends, actor="bench")
            pool_id = pool.id
        state.set_bucket(size=args.bucket, restore_rate=args.restore_rate)
        started = time.perf_counter()
        progress = filling.fill(database, pool_id=pool_id, client=client, poll_seconds=0.2)
        import_seconds = time.perf_counter() - started
        calls = len(state.discounts.creations)
    floor = max(0.0, calls * MUTATION_COST - args.bucket) / args.restore_rate
    with database.session_scope() as session:
        friend_ids = list(session.scalars(select(Friend.id).where(Friend.shop_id == shop_id)))
    timings: list[float] = []
    new_codes: list[int] = []
    for _ in range(2):
        started = time.perf_counter()
        with database.session_scope() as session:
            given = assign.assign(
                session,
                pool=session.get_one(CouponPool, pool_id),
                assigned_for="campaign:bench",
                friend_ids=friend_ids,
            )
        timings.append(time.perf_counter() - started)
        new_codes.append(given.newly)
    with database.session_scope() as session:
        holders = select(CouponCode.friend_id).where(CouponCode.friend_id.is_not(None))
        given_codes = session.scalar(select(func.count()).select_from(holders.subquery())) or 0
        distinct_friends = (
            session.scalar(select(func.count(func.distinct(CouponCode.friend_id)))) or 0
        )
    database.dispose()
    return Figures(
        load_average_1m=os.getloadavg()[0],
        friends=args.friends,
        codes=progress.ready,
        bulk_add_calls=calls,
        throttled_answers=client.throttled_count,
        import_seconds=round(import_seconds, 2),
        floor_seconds=round(floor, 2),
        import_over_floor=round(import_seconds / floor, 2) if floor else 0.0,
        assign_seconds=round(timings[0], 2),
        retried_assign_seconds=round(timings[1], 2),
        retried_assign_new_codes=new_codes[1],
        codes_given_twice=given_codes - distinct_friends,
        friends_without_code=len(friend_ids) - distinct_friends,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--friends", type=int, default=100_000)
    parser.add_argument("--bucket", type=float, default=1000.0)
    parser.add_argument("--restore-rate", type=float, default=100.0)
    parser.add_argument(
        "--database-url",
        default=os.environ.get(
            "TSUNAGU_BENCH_DATABASE_URL",
            "postgresql+psycopg://postgres@127.0.0.1:5432/tsunagu_bench_coupons",
        ),
    )
    figures: dict[str, Any] = asdict(run(parser.parse_args()))
    report("coupons", figures)


if __name__ == "__main__":
    main()
