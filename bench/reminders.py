"""Reminder precision benchmark: N personalised pushes due in the same instant, sent on time?

``.venv/bin/python -m bench.reminders`` (``--help`` for the options) does, in one run:

1. drops and re-creates its own PostgreSQL database (``tsunagu_bench_reminders``), migrates
   it, registers a shop and a channel, and loads N followed friends with ``COPY`` (not timed);
2. starts the sandbox LINE platform in a process of its own (127.0.0.1 only) with the same N
   users, enforcing LINE's push limit (2,000 requests/s per channel), no quota;
3. plans one personalised reminder per friend (one booking each) with
   ``messaging.outbox.service.plan``, all due at the same instant T a little ahead (not timed: rows
   are planned before they fall due, as reminders are);
4. **timed**: from T, the dispatcher pushes them, as a production worker does: ``--processes``
   processes (2 by default, ``tsunagu worker``'s default concurrency), each running
   ``messaging.outbox.dispatcher.run`` on ``--threads`` threads, claiming with ``SKIP LOCKED`` and
   sharing LINE's rate limit through the Redis limiter (the in-process one for a single
   process); each stops when nothing is left or after ``--timeout``;
5. checks the sandbox (every user exactly one message: no duplicates, none missed) and the hub
   (N sent), and measures lateness = when LINE (the sandbox) received each push - T, and
   the hub's ``sent_at`` - ``due_at``: p50, p99 and max;
6. prints the figures and writes them as JSON to ``bench/results/reminders-*.json``.

The floor is N / 2,000 seconds (50 s for 100,000); the target is the last push within twice
that of T. The CPU seconds of the hub's processes and of the sandbox during the send show where
the time goes (all share the machine with PostgreSQL and Redis). One process holds Python's
global interpreter lock for about 0.85 ms per push (two thirds of it in the LINE SDK's call),
so one process sends at most about 1,100 pushes/s: reaching LINE's 2,000/s takes two.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import math
import os
import pstats
import resource
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import redis
from sqlalchemy import select

from bench.fanout import (
    REPO,
    percentiles,
    prepare,
    report,
    sandbox_stats,
    start_sandbox,
)
from bench.profiles import print_parts, summarise

PUSH_RATE = 2000
SOURCE = "reminder:bench"


@dataclass
class Figures:
    load_average_1m: float
    bookings: int
    floor_seconds: float
    target_seconds: float
    planning_seconds: float
    processes: int
    threads: int
    latency_ms: float
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
    # With --profile: each dispatcher process's CPU profile, summed by part (see bench.push_cost).
    hub_profiles: list[dict[str, Any]] | None = None


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
    from messaging.outbox import service

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
    database: Any, api_url: str, *, threads: int, bookings: int, timeout: float, limiter: Any
) -> int:
    """Run the dispatcher until every reminder is sent (or ``timeout``); return requests."""
    from messaging.outbox import dispatcher, service

    config = dispatcher.DispatchConfig(api_url=api_url, threads=threads, max_run_seconds=600)
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


def serve_dispatcher(args: argparse.Namespace) -> None:
    """(A dispatcher process) wait for T, send until all is sent; print what it cost as JSON."""
    from bench.fanout import open_bench_database
    from jobs import tasks  # noqa: F401  (what a worker process has imported when it starts)
    from messaging.outbox.limiter import LocalLimiter, RedisLimiter
    from tsunagu.hub import settle_heap

    database = open_bench_database(args.database_url, name="reminders")
    # As ``tsunagu worker`` does before its processes start.
    settle_heap()
    if args.redis_url:
        limiter: Any = RedisLimiter(
            redis.Redis.from_url(args.redis_url), prefix=f"tsunagu-bench:{args.start_at}:"
        )
    else:
        limiter = LocalLimiter()
    time.sleep(max(0.0, args.start_at - time.time()))
    profiles = ThreadProfiles() if args.profile else None
    cpu_before = time.process_time()
    requests = dispatch_until_sent(
        database,
        args.api_url,
        threads=args.threads,
        bookings=args.bookings,
        timeout=args.timeout,
        limiter=limiter,
    )
    cpu = time.process_time() - cpu_before
    database.dispose()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    costs: dict[str, Any] = {"requests": requests, "cpu_seconds": cpu, "max_rss_mb": rss}
    if profiles is not None:
        costs["profile"] = profiles.summary(requests)
    print(json.dumps(costs), flush=True)


class ThreadProfiles:
    """A CPU-time profile (``cProfile`` timed by each thread's CPU) of every thread started
    from now on and of this one, summed by part as ``bench.push_cost`` does."""

    def __init__(self) -> None:
        self._profiles: list[cProfile.Profile] = []
        threading.setprofile(self._start)
        self._start()

    def _start(self, *_: Any) -> None:
        profile = cProfile.Profile(time.thread_time)
        self._profiles.append(profile)
        profile.enable()

    def summary(self, pushes: int) -> dict[str, Any]:
        threading.setprofile(None)
        for profile in self._profiles:
            profile.disable()
        return summarise(pstats.Stats(*self._profiles), max(1, pushes), 25)


def start_dispatchers(args: argparse.Namespace, api_url: str, start_at: float) -> list[Any]:
    """Start ``--processes`` dispatcher processes, all beginning at ``start_at``."""
    shared = ["--redis-url", args.redis_url] if args.processes > 1 else []
    if args.profile:
        shared.append("--profile")
    return [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "bench.reminders",
                "--database-url",
                args.database_url,
                "--bookings",
                str(args.bookings),
                "--threads",
                str(args.threads),
                "--timeout",
                str(args.timeout),
                "dispatch",
                "--api-url",
                api_url,
                "--start-at",
                str(start_at),
                *shared,
            ],
            cwd=REPO,
            stdout=subprocess.PIPE,
        )
        for _ in range(args.processes)
    ]


def dispatcher_costs(processes: list[Any], timeout: float) -> list[dict[str, Any]]:
    costs = []
    for process in processes:
        out, _ = process.communicate(timeout=timeout + 120)
        if process.returncode != 0:
            raise SystemExit(f"a dispatcher process failed (exit {process.returncode})")
        costs.append(json.loads(out.decode().strip().splitlines()[-1]))
    return costs


def hub_lateness(database: Any) -> dict[str, float]:
    from messaging.outbox.models import Delivery

    with database.session_scope() as session:
        rows = session.execute(
            select(Delivery.sent_at, Delivery.due_at).where(
                Delivery.source == SOURCE, Delivery.sent_at.is_not(None)
            )
        )
        return percentiles([(sent - due).total_seconds() for sent, due in rows])


def run(args: argparse.Namespace) -> Figures:
    from messaging.outbox import service

    database, _shop_id, channel_pk = prepare(
        args.database_url, friends=args.bookings, name="reminders"
    )
    sandbox = start_sandbox(args.sandbox_port, args.bookings, args.latency_ms)
    api_url = f"http://127.0.0.1:{args.sandbox_port}"
    dispatchers: list[Any] = []
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
        dispatchers = start_dispatchers(args, api_url, due.timestamp())
        before = sandbox_stats(args.sandbox_port)
        time.sleep(max(0.0, (due - datetime.now(UTC)).total_seconds()))
        print(f"sending ({args.processes} processes, {args.threads} threads each) …", flush=True)
        costs = dispatcher_costs(dispatchers, args.timeout)
        after = sandbox_stats(args.sandbox_port, full=True, due=due.timestamp())
        with database.session_scope() as session:
            hub_sent = service.counts_by_state(session, source=SOURCE).get("sent", 0)
        by_hub = hub_lateness(database)
    finally:
        for process in dispatchers:
            if process.poll() is None:
                process.kill()
        sandbox.terminate()
        sandbox.wait(timeout=30)
        database.dispose()
    floor = args.bookings / PUSH_RATE
    last = after["lateness"]["max"]
    received = after["received"] - before["received"]
    requests = sum(int(c["requests"]) for c in costs)
    return Figures(
        load_average_1m=os.getloadavg()[0],
        bookings=args.bookings,
        floor_seconds=floor,
        target_seconds=2 * floor,
        planning_seconds=round(planning, 1),
        processes=args.processes,
        threads=args.threads,
        latency_ms=args.latency_ms,
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
        hub_cpu_ms_per_push=round(
            sum(c["cpu_seconds"] for c in costs) / max(1, requests) * 1000, 2
        ),
        sandbox_cpu_ms_per_push=round(
            (after["cpu_seconds"] - before["cpu_seconds"]) / max(1, received) * 1000, 2
        ),
        hub_peak_rss_mb=round(max(c["max_rss_mb"] for c in costs), 1),
        hub_profiles=[c["profile"] for c in costs] if args.profile else None,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command")
    dispatch = sub.add_parser("dispatch", help="(internal) one dispatcher process")
    dispatch.add_argument("--api-url", required=True)
    dispatch.add_argument("--start-at", type=float, required=True, help="T, in epoch seconds")
    dispatch.add_argument("--redis-url", default=None, help="share the rate limit in Redis")
    dispatch.add_argument("--profile", action="store_true")
    parser.add_argument("--bookings", type=int, default=100_000)
    parser.add_argument(
        "--database-url",
        default=os.environ.get(
            "TSUNAGU_BENCH_REMINDERS_DATABASE_URL",
            "postgresql+psycopg://postgres@127.0.0.1:5432/tsunagu_bench_reminders",
        ),
    )
    parser.add_argument(
        "--redis-url",
        default=os.environ.get("TSUNAGU_BENCH_REDIS_URL", "redis://127.0.0.1:6379/13"),
        help="the rate limiter the dispatcher processes share (with --processes > 1)",
    )
    parser.add_argument("--sandbox-port", type=int, default=8792)
    parser.add_argument(
        "--latency-ms",
        type=float,
        default=0.0,
        help="answer every push this late, as a far-away api.line.me does (0: none)",
    )
    parser.add_argument(
        "--processes", type=int, default=2, help="dispatcher processes (tsunagu worker's default)"
    )
    parser.add_argument("--threads", type=int, default=8, help="dispatcher threads per process")
    parser.add_argument("--chunk", type=int, default=10_000, help="reminders per planning commit")
    parser.add_argument(
        "--lead-seconds", type=float, default=0, help="T - now when planning starts (0: auto)"
    )
    parser.add_argument("--timeout", type=float, default=600, help="give up sending after this")
    parser.add_argument(
        "--profile",
        action="store_true",
        help="profile the dispatcher processes' CPU (several times slower: not for timing)",
    )
    args = parser.parse_args()
    if args.command == "dispatch":
        serve_dispatcher(args)
        return
    figures = asdict(run(args))
    report("reminders", figures)
    for number, profile in enumerate(figures["hub_profiles"] or [], start=1):
        print(f"\ndispatcher process {number}:")
        print_parts(profile)


if __name__ == "__main__":
    main()
