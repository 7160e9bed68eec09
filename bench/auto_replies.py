"""Auto-reply benchmark: how long deciding the answer to one friend's message takes, against a
channel with 100 keyword rules and 50 FAQ entries of 5 wordings each.

``.venv/bin/python -m bench.auto_replies`` (``--help`` for the options) does, in one run:

1. drops and re-creates its own PostgreSQL database (``tsunagu_bench_auto_replies``), migrates
   it, registers a shop and a channel with 1,000 followers, and saves the rules (contains,
   exact, prefix and regular expressions; half limited to weekdays and hours, a fifth to a tag)
   and the FAQ entries through the service the admin API uses (not timed);
2. **timed**: ``autoreply.matching.decide`` for N messages from a friend, in one session each,
   as the worker runs it for every message event — the first one loads the channel's rules and
   indexes its FAQ wordings, the others reuse them until a rule or entry changes;
3. prints the median, p95 and p99 per message and the first message's time, kept as JSON in
   ``bench/results/auto-replies-*.json``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from bench.fanout import CHANNEL_ID, prepare, report

MESSAGES = [
    "明日の予約の時間を変更したいのですが可能ですか",
    "キーワード42",
    "注文3123の件です",
    "駐車場はありますか",
    "ありがとうございました",
]


@dataclass
class Figures:
    load_average_1m: float
    rules: int
    faq_entries: int
    messages: int
    first_ms: float
    median_ms: float
    p95_ms: float
    p99_ms: float


def declare(database: Any, shop_id: int, rules: int, entries: int) -> None:
    """Save ``rules`` rules and ``entries`` FAQ entries on the bench channel, as the admin API
    would."""
    from autoreply import service
    from autoreply.schemas import FaqSpec, RuleSpec

    kinds = ["contains", "exact", "prefix", "regex"]
    with database.session_scope() as session:
        for i in range(rules):
            kind = kinds[i % 4]
            pattern = rf"^注文{i}\d+" if kind == "regex" else f"キーワード{i}"
            spec = RuleSpec.model_validate(
                {
                    "name": f"rule-{i}",
                    "channel": CHANNEL_ID,
                    "match": kind,
                    "pattern": pattern,
                    "priority": i,
                    "schedule": {
                        "weekdays": ["mon", "tue", "wed"],
                        "start": "09:00",
                        "end": "21:00",
                    }
                    if i % 2
                    else {},
                    "conditions": {"tags": ["vip"]} if i % 5 == 0 else {},
                    "actions": {"reply": [{"type": "text", "text": f"答え{i}"}]},
                }
            )
            service.save_rule(session, shop_id=shop_id, spec=spec, actor="bench")
        for i in range(entries):
            questions = [f"質問{i}の言い回しその{j}はありますか" for j in range(5)]
            faq = FaqSpec(name=f"faq-{i}", channel=CHANNEL_ID, questions=questions, answer="答え")
            service.save_faq(session, shop_id=shop_id, spec=faq, actor="bench")


def run(args: argparse.Namespace) -> Figures:
    from autoreply import matching
    from core.tenancy import Channel
    from idlink.models import Friend

    database, shop_id, channel_pk = prepare(args.database_url, friends=1000, name="auto_replies")
    declare(database, shop_id, args.rules, args.faq)
    with database.session_scope() as session:
        friend_id = session.scalars(select(Friend.id).limit(1)).one()
    times = []
    for index in range(args.messages):
        started = time.perf_counter()
        with database.session_scope() as session:
            channel = session.get_one(Channel, channel_pk)
            matching.decide(
                session,
                channel=channel,
                text=MESSAGES[index % len(MESSAGES)],
                now=datetime.now(UTC),
                friend_id=friend_id,
            )
        times.append((time.perf_counter() - started) * 1000)
    ordered = sorted(times[1:])
    return Figures(
        load_average_1m=round(os.getloadavg()[0], 2),
        rules=args.rules,
        faq_entries=args.faq,
        messages=args.messages,
        first_ms=round(times[0], 2),
        median_ms=round(statistics.median(ordered), 2),
        p95_ms=round(ordered[int(len(ordered) * 0.95) - 1], 2),
        p99_ms=round(ordered[int(len(ordered) * 0.99) - 1], 2),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rules", type=int, default=100)
    parser.add_argument("--faq", type=int, default=50)
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument(
        "--database-url",
        default=os.environ.get(
            "TSUNAGU_BENCH_DATABASE_URL",
            "postgresql+psycopg://postgres@127.0.0.1:5432/tsunagu_bench_auto_replies",
        ),
    )
    figures: dict[str, Any] = asdict(run(parser.parse_args()))
    report("auto-replies", figures)


if __name__ == "__main__":
    main()
