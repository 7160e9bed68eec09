"""Synthetic orders for backfill tests and benchmarks: a bulk-operation JSONL file of N orders
(~3 line items each), deterministic for a seed, written line by line so a million orders take
no more memory than one.

    python -m sandbox.shopify.generator --orders 1000000 --out /tmp/orders.jsonl
"""

from __future__ import annotations

import argparse
import json
import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sandbox.shopify.state import gid, iso

PRODUCTS = (
    ("Matcha latte", "680"),
    ("Hojicha", "540"),
    ("Yuzu tart", "720"),
    ("Sakura mochi", "380"),
    ("Drip bag set", "1980"),
    ("Ceramic cup", "3300"),
    ("Gift card", "5000"),
)
EPOCH = datetime(2026, 1, 1, tzinfo=UTC)


def order_lines(
    orders: int,
    *,
    seed: int = 7,
    customers: int = 20_000,
    start: datetime = EPOCH,
    member_tag_prefix: str = "member:",
) -> Iterator[str]:
    """JSONL lines of ``orders`` orders: each order line, then its line items' lines."""
    rng = random.Random(seed)
    for number in range(1, orders + 1):
        order_id = gid("Order", 10_000_000 + number)
        created = start + timedelta(seconds=number * 3)
        customer_number = rng.randrange(1, customers + 1)
        count = rng.choice((2, 3, 3, 4))
        picks = [rng.choice(PRODUCTS) for _ in range(count)]
        quantities = [rng.randint(1, 3) for _ in picks]
        total = sum(int(price) * q for (_, price), q in zip(picks, quantities, strict=True))
        yield (
            json.dumps(
                {
                    "id": order_id,
                    "legacyResourceId": str(10_000_000 + number),
                    "name": f"#{number}",
                    "email": None,
                    "phone": None,
                    "createdAt": iso(created),
                    "updatedAt": iso(created + timedelta(minutes=5)),
                    "cancelledAt": None,
                    "currencyCode": "JPY",
                    "totalPriceSet": {"shopMoney": {"amount": f"{total}.00"}},
                    "totalRefundedSet": {"shopMoney": {"amount": "0.00"}},
                    "displayFinancialStatus": "PAID",
                    "discountCodes": ["WELCOME"] if number % 10 == 0 else [],
                    "test": False,
                    "customAttributes": [],
                    "refunds": [],
                    "customer": {
                        "id": gid("Customer", customer_number),
                        "defaultEmailAddress": {
                            "emailAddress": f"customer{customer_number}@example.com"
                        },
                        "defaultPhoneNumber": None,
                        "tags": [f"{member_tag_prefix}M{customer_number:07d}"],
                        "metafield": None,
                        "updatedAt": iso(start),
                    },
                },
                separators=(",", ":"),
            )
            + "\n"
        )
        for index, ((title, price), quantity) in enumerate(
            zip(picks, quantities, strict=True), start=1
        ):
            yield (
                json.dumps(
                    {
                        "id": gid("LineItem", (10_000_000 + number) * 10 + index),
                        "title": title,
                        "quantity": quantity,
                        "sku": f"SKU-{PRODUCTS.index((title, price)):03d}",
                        "originalUnitPriceSet": {"shopMoney": {"amount": f"{price}.00"}},
                        "product": {"id": gid("Product", PRODUCTS.index((title, price)) + 1)},
                        "variant": {"id": gid("ProductVariant", PRODUCTS.index((title, price)))},
                        "__parentId": order_id,
                    },
                    separators=(",", ":"),
                )
                + "\n"
            )


def write_orders(path: Path, orders: int, *, seed: int = 7, customers: int = 20_000) -> int:
    """Write the JSONL file; return its number of lines (objects)."""
    count = 0
    with path.open("w", encoding="utf-8") as out:
        for line in order_lines(orders, seed=seed, customers=customers):
            out.write(line)
            count += 1
    return count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--orders", type=int, default=1_000_000)
    parser.add_argument("--customers", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    lines = write_orders(args.out, args.orders, seed=args.seed, customers=args.customers)
    print(f"wrote {args.orders} orders ({lines} lines) to {args.out}")


if __name__ == "__main__":
    main()
