"""Shopify backfill benchmark: a million orders through the bulk-operation path into PostgreSQL.

``.venv/bin/python -m bench.shopify_backfill`` (``--help`` for the options) does, in one run:

1. writes the JSONL result of a bulk operation over N synthetic orders (~3 line items each,
   ``sandbox.shopify.generator``, deterministic seed) unless the file is already there;
2. drops and re-creates its own PostgreSQL database (``tsunagu_bench_shopify``), migrates it,
   and adds a shop with two Shopify connections to a sandbox store serving that file;
3. **hub path**: ``commerce.sync.run_sync(--full)`` with ``backfill: bulk`` — exactly what
   ``tsunagu sync <connection> --full`` runs: start the bulk operation, poll it, stream the
   JSONL over HTTP, stitch line items onto orders, and upsert page by page with
   ``commerce.bulk`` (multi-row ``INSERT … ON CONFLICT DO UPDATE WHERE newer``), each page
   committed with its checkpoint;
4. **naive path**, on the first ``--naive-orders`` orders of the same file into the second
   connection: the same records, one ORM object per order and per line
   (``commerce.service.upsert_purchase``), committed per page of the same size;
5. **incremental re-sync** with 1,000,000 orders stored: a normal (non-bulk) sync that finds no
   change, then one that finds ``--changes`` new orders;
6. prints the figures and writes them as JSON to ``bench/results/``.

Peak RSS is the process's ``ru_maxrss`` read right after the hub path (the sandbox store runs
in the same process, so the figure includes it). The naive path runs on a sample because at
its rate a million orders take most of an hour; its orders/s is per order of the same size
and the full-run time is extrapolated linearly, which flatters it (its per-row look-ups slow
down as the tables grow).
"""

from __future__ import annotations

import argparse
import json
import resource
import secrets
import tempfile
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import func, select

from commerce.connections import create_connection
from commerce.models import Connection, Purchase, PurchaseItem
from commerce.service import upsert_purchase
from commerce.sync import run_sync
from config import Settings
from connectors.shopify.bulk import stitch
from connectors.shopify.normalize import KeyOptions, order_from_graphql
from core import crypto
from core.db import Database
from core.tenancy import Shop, create_shop
from sandbox.shopify.generator import write_orders
from sandbox.shopify.server import ShopifyServer
from sandbox.shopify.state import ShopifyState
from tests.scratch import recreate_database
from tsunagu import migrate

RESULTS = Path(__file__).resolve().parent / "results"
DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/tsunagu_bench_shopify"
DEFAULT_FILE = Path(tempfile.gettempdir()) / "tsunagu-bench-orders.jsonl"
PAGE = 2000


@dataclass
class Figures:
    orders: int
    line_items: int
    hub_seconds: float
    hub_orders_per_second: float
    peak_rss_mb_after_hub: float
    naive_orders: int
    naive_seconds: float
    naive_orders_per_second: float
    naive_extrapolated_seconds: float
    speedup: float
    incremental_no_change_seconds: float
    incremental_changes: int
    incremental_with_changes_seconds: float


def fresh_database(url: str) -> Database:
    recreate_database(url)
    database = Database(url)
    migrate.upgrade(database.engine)
    return database


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def add_connection(database: Database, shop_id: int, name: str, server: ShopifyServer) -> int:
    with database.session_scope() as session:
        connection = create_connection(
            session,
            shop=session.get_one(Shop, shop_id),
            kind="shopify",
            name=name,
            base_url=server.url,
            credentials={
                "access_token": server.state.access_token,
                "client_secret": server.state.client_secret,
            },
            options={
                "backfill": "bulk",
                "bulk_page_size": PAGE,
                "bulk_poll_seconds": 0.1,
                "member_number_tag_prefix": "member:",
            },
            sync_interval_seconds=10**9,
        )
        return connection.id


def counts(database: Database, connection_id: int) -> tuple[int, int]:
    with database.session_scope() as session:
        orders = session.scalar(
            select(func.count(Purchase.id)).where(Purchase.connection_id == connection_id)
        )
        items = session.scalar(
            select(func.count(PurchaseItem.id))
            .join(Purchase, Purchase.id == PurchaseItem.purchase_id)
            .where(Purchase.connection_id == connection_id)
        )
        return int(orders or 0), int(items or 0)


def hub_path(database: Database, connection_id: int) -> float:
    started = time.perf_counter()
    done = 0

    def progress(_stream: str, count: int) -> None:
        nonlocal done
        done += count
        if count and done % (PAGE * 25) < count:
            rate = done / (time.perf_counter() - started)
            print(f"  {done:>9} orders  {rate:7.0f}/s  rss {peak_rss_mb():.0f} MB", flush=True)

    [result] = run_sync(
        database, connection_id=connection_id, streams=["orders"], full=True, progress=progress
    )
    if result.status != "succeeded":
        raise SystemExit(f"hub path failed: {result.error}")
    return time.perf_counter() - started


def naive_path(database: Database, connection_id: int, path: Path, orders: int) -> float:
    keys = KeyOptions(member_number_tag_prefix="member:")
    started = time.perf_counter()
    with path.open("rb") as lines:
        stitched = stitch(lines)
        done = 0
        while done < orders:
            with database.session_scope() as session:
                connection = session.get_one(Connection, connection_id)
                for item in stitched:
                    record = order_from_graphql(item.node, keys, item.children)
                    upsert_purchase(session, connection=connection, record=record)
                    done += 1
                    if done % PAGE == 0 or done >= orders:
                        break
    return time.perf_counter() - started


def incremental(database: Database, connection_id: int) -> float:
    started = time.perf_counter()
    [result] = run_sync(database, connection_id=connection_id, streams=["orders"])
    if result.status != "succeeded":
        raise SystemExit(f"incremental sync failed: {result.error}")
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--orders", type=int, default=1_000_000)
    parser.add_argument("--naive-orders", type=int, default=20_000)
    parser.add_argument("--changes", type=int, default=100)
    parser.add_argument("--file", type=Path, default=DEFAULT_FILE)
    parser.add_argument("--database-url", default=DEFAULT_URL)
    args = parser.parse_args()

    if not args.file.exists() or args.file.stat().st_size == 0:
        print(f"writing {args.orders} orders to {args.file} …", flush=True)
        write_orders(args.file, args.orders)
    # A throwaway key: the bench database is dropped on the next run.
    crypto.configure(Settings(_env_file=None, secret_key=secrets.token_urlsafe(32)))
    database = fresh_database(args.database_url)
    with database.session_scope() as session:
        shop_id = create_shop(session, slug="bench", name="Bench shop").id
    state = ShopifyState()
    with ShopifyServer(state) as server:
        hub_id = add_connection(database, shop_id, "hub", server)
        naive_id = add_connection(database, shop_id, "naive", server)

        state.use_bulk_file(args.file)
        print("hub path: bulk operation → stream → set-based upserts …", flush=True)
        hub_seconds = hub_path(database, hub_id)
        rss = peak_rss_mb()
        orders, items = counts(database, hub_id)

        print(f"naive path on {args.naive_orders} orders …", flush=True)
        naive_seconds = naive_path(database, naive_id, args.file, args.naive_orders)
        naive_orders, _ = counts(database, naive_id)

        print("incremental re-syncs …", flush=True)
        no_change = incremental(database, hub_id)
        for _ in range(args.changes):
            state.add_order(updated_at=datetime.now(UTC))
        with_changes = incremental(database, hub_id)

    hub_rate = orders / hub_seconds
    naive_rate = naive_orders / naive_seconds
    figures = Figures(
        orders=orders,
        line_items=items,
        hub_seconds=round(hub_seconds, 1),
        hub_orders_per_second=round(hub_rate),
        peak_rss_mb_after_hub=round(rss, 1),
        naive_orders=naive_orders,
        naive_seconds=round(naive_seconds, 1),
        naive_orders_per_second=round(naive_rate),
        naive_extrapolated_seconds=round(orders / naive_rate),
        speedup=round(hub_rate / naive_rate, 1),
        incremental_no_change_seconds=round(no_change, 3),
        incremental_changes=args.changes,
        incremental_with_changes_seconds=round(with_changes, 3),
    )
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"shopify_backfill-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json"
    out.write_text(json.dumps(asdict(figures), indent=2))
    for key, value in asdict(figures).items():
        print(f"{key:34} {value}")
    print(f"written to {out}")


if __name__ == "__main__":
    main()
