"""Reminder precision benchmark: N personalised pushes due in the same instant, sent on time?

``.venv/bin/python -m bench.reminders`` (``--help`` for the options) does, in one run:

1. drops and re-creates its own PostgreSQL database (``tsunagu_bench_reminders``), migrates
   it, registers a shop and a channel, and loads N followed friends with ``COPY`` (not timed);
2. starts the sandbox LINE platform in a process of its own (127.0.0.1 only) with the same N
   users, enforcing LINE's push limit (2,000 requests/s per channel), no quota;
3. plans one personalised reminder per friend (one booking each) with
   ``messaging.service.plan``, all due at the same instant T a little ahead (not timed: rows
   are planned before they fall due, as reminders are);
4. **timed**: from T, the dispatcher (``messaging.dispatcher.run``, several threads, the
   in-process rate limiter) pushes them; it stops when nothing is left or after ``--timeout``;
5. checks the sandbox (every user exactly one message: no duplicates, none missed) and the hub
   (N sent), and measures lateness = when LINE (the sandbox) received each push - T, and
   the hub's ``sent_at`` - ``due_at``: p50, p99 and max;
6. prints the figures and writes them as JSON to ``bench/results/reminders-*.json``.

The floor is N / 2,000 seconds (50 s for 100,000); the target is the last push within twice
that of T. The CPU seconds of the hub process and of the sandbox during the send show where
the time goes (both share the machine with PostgreSQL).
"""

from __future__ import annotations

import argparse
import math
import os
import resource
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from bench.fanout import (
    percentiles,
    prepare,
    report,
    sandbox_stats,
    start_sandbox,
)

PUSH_RATE = 2000
SOURCE = "reminder:bench"


@dataclass
class Figures:
    load_average_1m: float
    bookings: int
    floor_seconds: float
    target_seconds: float
    planning_seconds: float
    threads: int
    last_sent_after_due_seconds: float
    within_target: bool
    pushes_per_second: float
    sandbox_lateness: dict[str, float]
    hub_lateness: dict[str, float]
    hub_sent: int
    sandbox_received: int
    sandbox_distinct_users: int
    duplicates: int
    missed: int
    hub_cpu_ms_per_push: float
    sandbox_cpu_ms_per_push: float
    hub_peak_rss_mb: float


def reminder_for(friend_id: int) -> list[dict[str, Any]]:
    """The personalised reminder of the booking of ``friend_id``."""
    return [
        {
            "type": "text",
            "text": f"明日 10:00 のご予約をお待ちしております (予約番号 B{friend_id:07d})",
        }
    ]


def plan_reminders(database: Any, channel_pk: int, due_at: datetime, chunk: int) -> float:
    """Plan one reminder per friend, due at ``due_at``, in committed chunks; return seconds."""
    from core.tenancy import Channel
    from idlink.models import Friend
    from messaging import service

    started = time.perf_counter()
    with database.session_scope() as session:
        friend_ids = list(
            session.scalars(
                select(Friend.id).where(Friend.channel_id == channel_pk).order_by(Friend.id)
            )
        )
    for start in range(0, len(friend_ids), chunk):
        with database.session_scope() as session:
            service.plan(
                session,
                channel=session.get_one(Channel, channel_pk),
                recipients=friend_ids[start : start + chunk],
                messages=reminder_for,
                idempotency_key_for=lambda f: f"reminder:booking-{f}:day-before",
                due_at=due_at,
                source=SOURCE,
                respect_quiet_hours=False,
            )
    return time.perf_counter() - started


def dispatch_until_sent(
    database: Any, api_url: str, threads: int, bookings: int, timeout: float
) -> int:
    """Run the dispatcher until every reminder is sent (or ``timeout``); return requests."""
    from messaging import dispatcher, service
    from messaging.limiter import LocalLimiter

    config = dispatcher.DispatchConfig(api_url=api_url, threads=threads, max_run_seconds=600)
    limiter = LocalLimiter()
    senders = dispatcher.SenderPool(api_url, config.request_timeout_seconds)
    deadline = time.monotonic() + timeout
    requests = 0
    while time.monotonic() < deadline:
        stats = dispatcher.run(database, config=config, limiter=limiter, senders=senders)
        requests += stats.requests
        with database.session_scope() as session:
            if service.counts_by_state(session, source=SOURCE).get("sent", 0) >= bookings:
                break
        time.sleep(0.01)
    senders.close()
    return requests


def hub_lateness(database: Any) -> dict[str, float]:
    from messaging.models import Delivery

    with database.session_scope() as session:
        rows = session.execute(
            select(Delivery.sent_at, Delivery.due_at).where(
                Delivery.source == SOURCE, Delivery.sent_at.is_not(None)
            )
        )
        return percentiles([(sent - due).total_seconds() for sent, due in rows])


def run(args: argparse.Namespace) -> Figures:
    from messaging import service

    database, _shop_id, channel_pk = prepare(
        args.database_url, friends=args.bookings, name="reminders"
    )
    sandbox = start_sandbox(args.sandbox_port, args.bookings)
    api_url = f"http://127.0.0.1:{args.sandbox_port}"
    try:
        lead = args.lead_seconds or 20 + args.bookings / 2500
        due = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=math.ceil(lead))
        print(f"planning {args.bookings:,} reminders due at {due:%H:%M:%S} …", flush=True)
        planning = plan_reminders(database, channel_pk, due, args.chunk)
        wait = (due - datetime.now(UTC)).total_seconds()
        if wait < 0:
            raise SystemExit(f"planning ended {-wait:.1f} s after T: raise --lead-seconds")
        with database.engine.begin() as connection:
            connection.exec_driver_sql("ANALYZE deliveries")
        time.sleep(max(0.0, (due - datetime.now(UTC)).total_seconds()))
        print("sending …", flush=True)
        before = sandbox_stats(args.sandbox_port)
        cpu_before = time.process_time()
        requests = dispatch_until_sent(database, api_url, args.threads, args.bookings, args.timeout)
        hub_cpu = time.process_time() - cpu_before
        after = sandbox_stats(args.sandbox_port, full=True, due=due.timestamp())
        with database.session_scope() as session:
            hub_sent = service.counts_by_state(session, source=SOURCE).get("sent", 0)
        by_hub = hub_lateness(database)
    finally:
        sandbox.terminate()
        sandbox.wait(timeout=30)
        database.dispose()
    floor = args.bookings / PUSH_RATE
    last = after["lateness"]["max"]
    received = after["received"] - before["received"]
    return Figures(
        load_average_1m=os.getloadavg()[0],
        bookings=args.bookings,
        floor_seconds=floor,
        target_seconds=2 * floor,
        planning_seconds=round(planning, 1),
        threads=args.threads,
        last_sent_after_due_seconds=last,
        within_target=last <= 2 * floor and received == args.bookings,
        pushes_per_second=round(received / last, 1) if last > 0 else 0.0,
        sandbox_lateness=after["lateness"],
        hub_lateness=by_hub,
        hub_sent=hub_sent,
        sandbox_received=received,
        sandbox_distinct_users=after["distinct_users"],
        duplicates=received - after["distinct_users"],
        missed=args.bookings - after["distinct_users"],
        hub_cpu_ms_per_push=round(hub_cpu / max(1, requests) * 1000, 2),
        sandbox_cpu_ms_per_push=round(
            (after["cpu_seconds"] - before["cpu_seconds"]) / max(1, received) * 1000, 2
        ),
        hub_peak_rss_mb=round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bookings", type=int, default=100_000)
    parser.add_argument(
        "--database-url",
        default=os.environ.get(
            "TSUNAGU_BENCH_REMINDERS_DATABASE_URL",
            "postgresql+psycopg://postgres@127.0.0.1:5432/tsunagu_bench_reminders",
        ),
    )
    parser.add_argument("--sandbox-port", type=int, default=8792)
    parser.add_argument("--threads", type=int, default=16, help="dispatcher threads")
    parser.add_argument("--chunk", type=int, default=10_000, help="reminders per planning commit")
    parser.add_argument(
        "--lead-seconds", type=float, default=0, help="T - now when planning starts (0: auto)"
    )
    parser.add_argument("--timeout", type=float, default=600, help="give up sending after this")
    args = parser.parse_args()
    report("reminders", asdict(run(args)))


if __name__ == "__main__":
    main()
