"""Friends list benchmark: the staff's list, a chart and a bulk tagging at 1,000,000 friends.

``.venv/bin/python -m bench.friends_list`` (``--help`` for the options) does, in one run:

1. drops and re-creates its own PostgreSQL database (``tsunagu_bench_friends_list``), migrates
   it, and loads (not timed) N friends with display names and follow dates, 20 tags (each
   friend carries 0-3), ``--members`` members with encrypted names, emails and phones and
   their name search index (written by the hub's own code), each linked to a friend, one
   purchase per linked member, and one friend with 1,000 timeline entries (messages in and
   out, tag changes);
2. **timed**, each query ``--repeat`` times, the server's work for a page: the friends list
   with two filters and a search (``status=followed``, ``tags_any=…`` and ``q=<a member's
   family name>``: the filtered query, its first page of 50, the count and the rows'
   rendering), the same with a display-name search and with a sort, and the chart of the
   friend with 1,000 entries (its first 30 timeline entries, as the console shows);
3. **timed**: a bulk tagging of every friend carrying one tag (about 100,000), run as the
   worker runs it (a batch per transaction);
4. prints p50/p95/max per query, the bulk's seconds, the load average, and writes them as JSON
   to ``bench/results/friends_list-*.json``. ``--explain`` prints the plans of the list's
   queries (``EXPLAIN ANALYZE``).

Targets: list p95 < 200 ms, chart < 150 ms, bulk tagging of 100,000 friends < 30 s.
"""

from __future__ import annotations

import argparse
import os
import random
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import text

from bench.fanout import (
    ACCESS_TOKEN,
    CHANNEL_ID,
    CHANNEL_SECRET,
    open_bench_database,
    report,
    user_id,
)

TAGS = 20
# Members' names: 40 family names x 40 given names, uniformly (佐藤 is 2.5 % of them; in Japan
# the commonest family name is about 1.5 %), so a name search works through realistic lists.
FAMILY = [
    "佐藤",
    "鈴木",
    "高橋",
    "田中",
    "伊藤",
    "渡辺",
    "山本",
    "中村",
    "小林",
    "加藤",
    "吉田",
    "山田",
    "佐々木",
    "山口",
    "松本",
    "井上",
    "木村",
    "林",
    "斎藤",
    "清水",
    "山崎",
    "森",
    "池田",
    "橋本",
    "阿部",
    "石川",
    "山下",
    "中島",
    "石井",
    "小川",
    "前田",
    "岡田",
    "長谷川",
    "藤田",
    "後藤",
    "近藤",
    "村上",
    "遠藤",
    "青木",
    "坂本",
]
GIVEN = [
    "花子",
    "一郎",
    "美咲",
    "翔太",
    "陽菜",
    "大輝",
    "結衣",
    "蓮",
    "さくら",
    "健",
    "陽翔",
    "葵",
    "湊",
    "凛",
    "悠真",
    "結菜",
    "大和",
    "芽依",
    "颯太",
    "莉子",
    "樹",
    "美月",
    "悠人",
    "心春",
    "朝陽",
    "楓",
    "律",
    "紬",
    "蒼",
    "杏",
    "優斗",
    "陽葵",
    "奏太",
    "彩花",
    "健太",
    "七海",
    "拓海",
    "愛",
    "直人",
    "由美",
]


def load(database: Any, *, friends: int, members: int) -> tuple[int, int]:
    """The shop's data (not timed): (shop id, the id of the friend with a long timeline)."""
    from commerce.connections import create_connection
    from core import crypto
    from core.tenancy import Shop, create_channel, create_shop
    from idlink import search_index

    with database.session_scope() as session:
        shop = create_shop(session, slug="bench", name="Bench shop")
        channel = create_channel(
            session,
            shop=session.get_one(Shop, shop.id),
            name="Bench",
            line_channel_id=CHANNEL_ID,
            channel_secret=CHANNEL_SECRET,
            access_token=ACCESS_TOKEN,
        )
        connection = create_connection(
            session,
            shop=session.get_one(Shop, shop.id),
            kind="shopify",
            name="bench-store",
            credentials={"secret": "s", "access_token": "x"},
            sync_interval_seconds=10**9,
        )
        shop_id, channel_pk, connection_id = shop.id, channel.id, connection.id
    now = datetime.now(UTC)
    box = crypto.box()
    raw = database.engine.raw_connection()
    try:
        cursor = raw.cursor()
        print(f"loading {friends:,} friends …", flush=True)
        columns = (
            "shop_id, channel_id, line_user_id, status, display_name, last_followed_at,"
            " last_message_at, created_at"
        )
        with cursor.copy(f"COPY friends ({columns}) FROM STDIN") as copy:
            for n in range(friends):
                followed = now - timedelta(minutes=n % 500_000)
                status = "blocked" if n % 10 == 9 else "followed"
                # Two friends in three have written to the shop, some time in the last year.
                messaged = now - timedelta(minutes=(n * 7919) % 525_600) if n % 3 else None
                copy.write_row(
                    (shop_id, channel_pk, user_id(n), status, f"お客様{n}", followed, messaged, now)
                )
        cursor.execute(
            "INSERT INTO tags (shop_id, name, created_at) "
            "SELECT %s, 'tag-' || g, now() FROM generate_series(0, %s) g",
            (shop_id, TAGS - 1),
        )
        print("tagging them …", flush=True)
        # Friend n carries tags n % 20, (n * 7) % 20 and (n * 13) % 20 when n % 4 != 0.
        cursor.execute(
            "INSERT INTO friend_tags (friend_id, tag_id, source, created_at) "
            "SELECT DISTINCT f.id, t.id, 'bench', now() FROM friends f "
            "CROSS JOIN LATERAL (VALUES (f.id %% 20), ((f.id * 7) %% 20), ((f.id * 13) %% 20)) "
            "AS k(n) JOIN tags t ON t.name = 'tag-' || k.n AND t.shop_id = %s "
            "WHERE f.id %% 4 <> 0",
            (shop_id,),
        )
        raw.commit()
        print(f"loading {members:,} members, their search index and links …", flush=True)
        rng = random.Random(7)
        member_rows, tokens = [], []
        for n in range(members):
            name = f"{rng.choice(FAMILY)} {rng.choice(GIVEN)}"
            email = f"member{n}@example.jp"
            phone = f"+8190{n:08d}"
            member_rows.append(
                (
                    shop_id,
                    f"M-{n:07d}",
                    box.encrypt(name),
                    box.encrypt(email),
                    box.blind_index(email),
                    box.encrypt(phone),
                    box.blind_index(phone),
                    "{}",
                    now,
                    now,
                )
            )
            tokens.append(name)
        member_columns = (
            "shop_id, member_number, name, email, email_index, phone, phone_index, "
            "attributes, created_at, updated_at"
        )
        with cursor.copy(f"COPY members ({member_columns}) FROM STDIN") as copy:
            for row in member_rows:
                copy.write_row(row)
        cursor.execute("SELECT id FROM members WHERE shop_id = %s ORDER BY id", (shop_id,))
        member_ids = [row[0] for row in cursor.fetchall()]
        hashed = {
            name: {search_index.hashed_token(shop_id, t) for t in search_index.tokens(name)}
            for name in set(tokens)
        }
        with cursor.copy(
            "COPY member_search_tokens (member_id, shop_id, token) FROM STDIN"
        ) as copy:
            for member_id, name in zip(member_ids, tokens, strict=True):
                for token in hashed[name]:
                    copy.write_row((member_id, shop_id, token))
        # Member k is linked to friend 3k + 1 (every third friend, up to three times the members).
        cursor.execute(
            "INSERT INTO member_links (shop_id, provider_id, friend_id, member_id, method, "
            "linked_at, linked_by) SELECT %s, 'bench', f.id, m.id, 'staff', now(), 'bench' "
            "FROM (SELECT id, row_number() OVER (ORDER BY id) - 1 AS k FROM members) m "
            "JOIN (SELECT id, row_number() OVER (ORDER BY id) - 1 AS n FROM friends) f "
            "ON f.n = 3 * m.k + 1",
            (shop_id,),
        )
        cursor.execute(
            "INSERT INTO purchases (shop_id, connection_id, external_id, name, member_id, "
            "currency, total, refunded_total, financial_status, discount_codes, test, ordered_at, "
            "source_updated_at, created_at, updated_at) SELECT %s, %s, 'o-' || id, '#' || id, id, "
            "'JPY', 1000 + (id %% 50) * 500, 0, 'paid', '[]', false, now(), now(), now(), now() "
            "FROM members",
            (shop_id, connection_id),
        )
        print("a friend with 1,000 timeline entries …", flush=True)
        cursor.execute("SELECT id FROM friends ORDER BY id LIMIT 1 OFFSET 1")
        long_friend = cursor.fetchone()[0]
        cursor.execute(
            "INSERT INTO conversation_messages (shop_id, friend_id, direction, message_type, text, "
            "payload, occurred_at, created_at) SELECT %s, %s, "
            "CASE WHEN g %% 2 = 0 THEN 'in' ELSE 'out' END, 'text', 'メッセージ ' || g, "
            "'{}', now() - g * interval '1 hour', now() FROM generate_series(1, 1000) g",
            (shop_id, long_friend),
        )
        raw.commit()
        cursor.execute("ANALYZE")
        raw.commit()
    finally:
        raw.close()
    return shop_id, long_friend


def percentiles(values: list[float]) -> dict[str, float]:
    """p50, p95 and max in milliseconds."""
    ordered = sorted(values)
    return {
        "p50_ms": round(ordered[len(ordered) // 2] * 1000, 1),
        "p95_ms": round(ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))] * 1000, 1),
        "max_ms": round(ordered[-1] * 1000, 1),
    }


def list_page(database: Any, shop_id: int, params: dict[str, Any]) -> float:
    """What ``GET /friends`` does for a page: filter, page, count, render; seconds."""
    from idlink.queries import render_friends
    from messaging.friend_list import queries
    from messaging.friend_list.filters import FriendFilters

    filters = FriendFilters.model_validate(params)
    started = time.perf_counter()
    with database.session_scope() as session:
        query = queries.filtered(session, shop_id, filters)
        found = queries.page(session, query, filters.sort, limit=50, cursor=None)
        render_friends(session, shop_id, found.friends)
        queries.count(session, query)
    return time.perf_counter() - started


def chart(database: Any, shop_id: int, friend_id: int) -> float:
    from messaging import chart as chart_service

    started = time.perf_counter()
    with database.session_scope() as session:
        found = chart_service.friend_chart(
            session, shop_id, friend_id, include_personal=True, limit=30, cursor=None
        )
        assert len(found.timeline.items) == 30, len(found.timeline.items)
    return time.perf_counter() - started


def bulk_tag(database: Any, shop_id: int, tag: str) -> tuple[float, int]:
    """Tag every friend carrying ``tag`` as the worker does: seconds, friends changed."""
    from messaging.friend_list import bulk
    from messaging.friend_list.bulk import BulkIn
    from messaging.friend_list.filters import FriendFilters
    from messaging.friend_list.models import BulkAction, FriendBulkJob

    started = time.perf_counter()
    with database.session_scope() as session:
        job = bulk.start(
            session,
            shop_id=shop_id,
            filters=FriendFilters(tags_any=[tag]),
            body=BulkIn(action=BulkAction.ADD_TAG, tag="bench-bulk"),
            actor="bench",
        )
        job_id = job.id
    more = True
    while more:
        with database.session_scope() as session:
            more = bulk.run_next(session, job_id)
    seconds = time.perf_counter() - started
    with database.session_scope() as session:
        return seconds, session.get_one(FriendBulkJob, job_id).changed


def explain(database: Any, shop_id: int, params: dict[str, Any]) -> None:
    from messaging.friend_list import queries
    from messaging.friend_list.filters import FriendFilters

    filters = FriendFilters.model_validate(params)
    with database.session_scope() as session:
        query = queries.filtered(session, shop_id, filters)
        for label, statement in (
            ("page", query.order_by(text("friends.id DESC")).limit(51)),
            ("count", query.order_by(None).with_only_columns(text("count(*)"))),
        ):
            compiled = statement.compile(session.get_bind(), compile_kwargs={"literal_binds": True})
            plan = session.execute(text(f"EXPLAIN (ANALYZE, BUFFERS) {compiled}")).scalars()
            print(f"--- {label} {params}\n" + "\n".join(plan), flush=True)


def run(args: argparse.Namespace) -> dict[str, Any]:
    from tests.scratch import empty_database

    load_before = os.getloadavg()
    empty_database(args.database_url)
    database = open_bench_database(args.database_url, name="friends_list")
    shop_id, long_friend = load(database, friends=args.friends, members=args.members)
    scenarios: dict[str, dict[str, Any]] = {
        "list_two_filters_and_member_name": {
            "status": "followed",
            "tags_any": ["tag-3"],
            "q": "佐藤 花子",
        },
        "list_two_filters_and_display_name": {
            "status": "followed",
            "tags_any": ["tag-3"],
            "q": "お客様12345",
        },
        "list_two_filters_and_email": {
            "status": "followed",
            "linked": "true",
            "q": "member4242@example.jp",
        },
        "list_two_filters_sorted_by_name": {
            "status": "followed",
            "tags_all": ["tag-3", "tag-1"],
            "sort": "display_name",
        },
        "list_messaged_within_30_days_sorted_by_last_message": {
            "status": "followed",
            "messaged_within_days": 30,
            "sort": "last_message",
        },
    }
    if args.explain:
        for params in scenarios.values():
            explain(database, shop_id, params)
    figures: dict[str, Any] = {
        "friends": args.friends,
        "members": args.members,
        "repeat": args.repeat,
        "load_average_before": [round(x, 2) for x in load_before],
    }
    print("timing …", flush=True)
    for name, params in scenarios.items():
        list_page(database, shop_id, params)  # warm the caches once
        figures[name] = percentiles(
            [list_page(database, shop_id, params) for _ in range(args.repeat)]
        )
    chart(database, shop_id, long_friend)
    figures["chart_1000_entries"] = percentiles(
        [chart(database, shop_id, long_friend) for _ in range(args.repeat)]
    )
    seconds, changed = bulk_tag(database, shop_id, "tag-5")
    figures["bulk_tag_friends"] = changed
    figures["bulk_tag_seconds"] = round(seconds, 2)
    figures["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    database.dispose()
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--friends", type=int, default=1_000_000)
    parser.add_argument("--members", type=int, default=300_000)
    parser.add_argument("--repeat", type=int, default=40, help="timed runs of each query")
    parser.add_argument("--explain", action="store_true", help="print the queries' plans")
    parser.add_argument(
        "--database-url",
        default=os.environ.get(
            "TSUNAGU_BENCH_DATABASE_URL",
            "postgresql+psycopg://postgres@127.0.0.1:5432/tsunagu_bench_friends_list",
        ),
    )
    args = parser.parse_args()
    report("friends_list", run(args))


if __name__ == "__main__":
    main()
