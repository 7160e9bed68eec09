"""Fan-out benchmark: one identical message to N followed friends, against the sandbox LINE.

``.venv/bin/python -m bench.fanout`` (``--help`` for the options) does, in one run:

1. drops and re-creates its own PostgreSQL database (``tsunagu_bench_fanout``), migrates it,
   registers a shop and a channel, and loads N followed friends with ``COPY`` (not timed);
2. starts the sandbox LINE platform in a process of its own with the same N users following the
   channel, enforcing its documented multicast limit (200 requests/s per channel), no quota;
3. **timed**: resolves the segment (a ``Select`` of the followed friends) and plans it, while
   the dispatcher (``messaging.outbox.dispatcher.run``, several threads, the in-process rate
   limiter) claims and sends what is committed. ``--path audience`` (the default) freezes the
   segment with ``messaging.outbox.service.plan_audience_in_parts`` (one row per 500 friends, a
   committed part of 5,000 friends first, then parts of 100,000, which the dispatcher sends
   while later parts freeze); ``--path audience-whole`` freezes it with
   ``messaging.outbox.service.plan_audience`` in one transaction; ``--path per-friend`` plans
   one row per friend with ``messaging.outbox.service.plan``
   in committed chunks, which the dispatcher starts on while later chunks are planned;
4. checks that the sandbox received exactly one message per friend and that the hub counts
   N messages sent, in ``ceil(N / 500)`` multicast requests;
5. measures a naive loop (one push per friend, sequential) on a sample, and extrapolates;
6. prints the figures and writes them as JSON to ``bench/results/``.

The floor is ``ceil(N / 500) / 200`` seconds (10 s for a million). Peak RSS is this process's
(the hub: planning and dispatching); the sandbox's CPU use during the send shows whether it kept
up (one uvicorn process, one core at most).
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import func, select

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results"
CHANNEL_ID = "1650000001"
CHANNEL_SECRET = "b" * 32
ACCESS_TOKEN = "bench-fanout-token"
MESSAGES = [{"type": "text", "text": "週末限定セールのお知らせ: 全品10%オフ"}]
SECRET_KEY = "bench-fanout-secret-key"


def user_id(index: int) -> str:
    """The LINE user id of the n-th benchmark friend (U + 32 hex, deterministic)."""
    return f"U{index:032x}"


def percentiles(values: list[float]) -> dict[str, float]:
    """p50, p99 and max of ``values`` (seconds), rounded to milliseconds."""
    ordered = sorted(values)
    if not ordered:
        return {"p50": 0.0, "p99": 0.0, "max": 0.0}

    def at(quantile: float) -> float:
        return ordered[min(len(ordered) - 1, int(len(ordered) * quantile))]

    return {"p50": round(at(0.5), 3), "p99": round(at(0.99), 3), "max": round(ordered[-1], 3)}


# The sandbox process


def serve_sandbox(
    port: int,
    friends: int,
    latency_ms: float = 0.0,
    extend: Callable[[Any, Any], None] | None = None,
) -> None:
    """Run the sandbox LINE platform with ``friends`` users following the bench channel,
    answering every call ``latency_ms`` late; ``extend(app, state)`` adds a bench's routes."""
    import uvicorn

    from sandbox.line.app import create_app
    from sandbox.line.models import Friendship, SandboxUser
    from sandbox.line.state import SandboxState

    state = SandboxState()
    channel = state.add_channel(CHANNEL_ID, CHANNEL_SECRET, ACCESS_TOKEN, monthly_quota=None)
    state.set_latency(latency_ms / 1000)
    now = time.time()
    for index in range(friends):
        uid = user_id(index)
        state.users[uid] = SandboxUser(user_id=uid, display_name="friend")
        channel.friends[uid] = Friendship(following=True, followed_at=now)
    app = create_app(state)

    def stats(full: bool = False, due: float | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {
            "cpu_seconds": time.process_time(),
            "max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        }
        with state.lock:
            body["received"] = len(state.received)
            if full:
                per_user = Counter(m.user_id for m in state.received)
                body["distinct_users"] = len(per_user)
                body["max_per_user"] = max(per_user.values(), default=0)
            if due is not None:
                body["lateness"] = percentiles([m.received_at - due for m in state.received])
        return body

    app.add_api_route("/bench/stats", stats, methods=["GET"])
    if extend is not None:
        extend(app, state)
    # The sandbox's state only grows (a million users, then a million received messages, none
    # in a reference cycle): full collections of it paused the emulator ~0.5 s each mid-send.
    gc.collect()
    gc.freeze()
    gc.disable()
    print("sandbox ready", flush=True)
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


# The hub side


@dataclass
class Figures:
    path: str
    load_average_1m: float
    friends: int
    requests_expected: int
    floor_seconds: float
    planning_seconds: float
    first_request_after_seconds: float
    sending_seconds: float
    end_to_end_seconds: float
    ratio_to_floor: float
    requests_sent: int
    # The hub process's CPU (planning and dispatching) per multicast: steadier than wall clock
    # on a loaded machine.
    hub_cpu_ms_per_request: float
    hub_sent: int
    sandbox_received: int
    sandbox_distinct_users: int
    sandbox_max_per_user: int
    hub_peak_rss_mb: float
    sandbox_cpu_share_while_sending: float
    sandbox_peak_rss_mb: float
    attempt_p50_ms: float
    attempt_p99_ms: float
    naive_sample: int
    naive_pushes_per_second: float
    naive_extrapolated_seconds: float
    caps_over_caps_2000_friends_ms: float
    caps_freeze_again_seconds: float


def load_friends(database: Any, *, shop_id: int, channel_pk: int, friends: int) -> None:
    """COPY the friends in (setup, not timed)."""
    raw = database.engine.raw_connection()
    try:
        cursor = raw.cursor()
        now = datetime.now(UTC)
        columns = "shop_id, channel_id, line_user_id, status, created_at"
        with cursor.copy(f"COPY friends ({columns}) FROM STDIN") as copy:
            for index in range(friends):
                copy.write_row((shop_id, channel_pk, user_id(index), "followed", now))
        raw.commit()
        cursor.execute("ANALYZE friends")
        raw.commit()
    finally:
        raw.close()


def start_sandbox(
    port: int, friends: int, latency_ms: float = 0.0, *, module: str = "bench.fanout"
) -> subprocess.Popen[bytes]:
    """Start ``python -m <module> sandbox`` (a bench's ``serve_sandbox``); wait until it serves."""
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            module,
            "sandbox",
            "--port",
            str(port),
            "--friends",
            str(friends),
            "--latency-ms",
            str(latency_ms),
        ],
        cwd=REPO,
    )
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/bench/stats", timeout=2).status_code == 200:
                return process
        except httpx.TransportError:
            time.sleep(0.5)
    process.kill()
    raise RuntimeError("the sandbox did not start")


def sandbox_stats(port: int, *, full: bool = False, due: float | None = None) -> dict[str, Any]:
    params: dict[str, Any] = {"full": full}
    if due is not None:
        params["due"] = due
    response = httpx.get(f"http://127.0.0.1:{port}/bench/stats", params=params, timeout=120)
    return response.json()


def segment(channel_pk: int) -> Any:
    """The segment: the channel's followed friends (what a segment's rule tree compiles to)."""
    from idlink.models import Friend

    return select(Friend.id).where(Friend.channel_id == channel_pk, Friend.status == "followed")


def freeze(session: Any, channel_pk: int, *, key: str, source: str, due_at: datetime) -> None:
    """Freeze the segment as one audience send of the bench message, in ``session``."""
    from core.tenancy import Channel
    from messaging.outbox import service

    service.plan_audience(
        session,
        channel=session.get_one(Channel, channel_pk),
        audience=segment(channel_pk),
        messages=MESSAGES,
        idempotency_key=key,
        source=source,
        due_at=due_at,
        respect_quiet_hours=False,
    )


def plan_audience(database: Any, channel_pk: int) -> float:
    """Resolve the segment and freeze it as one audience send (one transaction); seconds."""
    started = time.perf_counter()
    with database.session_scope() as session:
        freeze(
            session,
            channel_pk,
            key="campaign:bench:1",
            source="campaign:bench",
            due_at=datetime.now(UTC),
        )
    return time.perf_counter() - started


def plan_audience_in_parts(database: Any, channel_pk: int) -> float:
    """Resolve the segment and freeze it as one audience send, part after committed part."""
    from messaging.outbox import service

    started = time.perf_counter()
    service.plan_audience_in_parts(
        database,
        channel_id=channel_pk,
        audience=segment(channel_pk),
        messages=MESSAGES,
        idempotency_key="campaign:bench:1",
        source="campaign:bench",
        due_at=datetime.now(UTC),
        respect_quiet_hours=False,
    )
    return time.perf_counter() - started


def plan_segment(database: Any, channel_pk: int, chunk: int) -> float:
    """Resolve the segment (streamed) and plan it in committed chunks; return the seconds."""
    from core.tenancy import Channel
    from idlink.models import Friend
    from messaging.outbox import service

    started = time.perf_counter()
    due = datetime.now(UTC)
    with database.engine.connect().execution_options(stream_results=True) as reader:
        rows = reader.execute(segment(channel_pk).order_by(Friend.id))
        for partition in rows.scalars().partitions(chunk):
            with database.session_scope() as session:
                service.plan(
                    session,
                    channel=session.get_one(Channel, channel_pk),
                    recipients=partition,
                    messages=MESSAGES,
                    idempotency_key_for=lambda f: f"campaign:bench:{f}",
                    due_at=due,
                    source="campaign:bench",
                    respect_quiet_hours=False,
                )
    return time.perf_counter() - started


def dispatch_until_done(
    database: Any, api_url: str, threads: int, planning: threading.Event
) -> tuple[float, int]:
    """Dispatch until planning ended and nothing is pending; return (seconds, requests)."""
    from messaging.outbox import dispatcher
    from messaging.outbox.limiter import LocalLimiter
    from messaging.outbox.models import BatchState, Delivery, DeliveryBatch, DeliveryState

    config = dispatcher.DispatchConfig(api_url=api_url, threads=threads, max_run_seconds=600)
    limiter = LocalLimiter()
    senders = dispatcher.SenderPool(api_url, config.request_timeout_seconds)
    started = time.perf_counter()
    requests = 0
    while True:
        stats = dispatcher.run(database, config=config, limiter=limiter, senders=senders)
        requests += stats.requests
        if stats.requests == 0:
            if planning.is_set():
                with database.session_scope() as session:
                    left = session.scalar(
                        select(func.count()).where(
                            Delivery.state.in_([DeliveryState.PENDING, DeliveryState.SENDING])
                        )
                    ) or session.scalar(
                        select(func.count()).where(
                            DeliveryBatch.state.in_(
                                [BatchState.QUEUED, BatchState.SENDING, BatchState.RETRYING]
                            )
                        )
                    )
                if not left:
                    break
            time.sleep(0.02)
    elapsed = time.perf_counter() - started
    senders.close()
    return elapsed, requests


def naive_loop(api_url: str, sample: int) -> float:
    """One push per friend, one after another (no batching): pushes per second."""
    import uuid

    from connectors.line.client import ChannelCredentials
    from connectors.line.sending import LineSender

    sender = LineSender(ChannelCredentials(access_token=ACCESS_TOKEN, api_url=api_url))
    started = time.perf_counter()
    for index in range(sample):
        sender.push(user_id(index), MESSAGES, retry_key=str(uuid.uuid4()))
    elapsed = time.perf_counter() - started
    sender.close()
    return sample / elapsed


def sending_window(database: Any) -> tuple[float, datetime]:
    """Seconds from the first request's start to the last answer (every HTTP try counted), and
    when the first request started."""
    from messaging.outbox.models import DeliveryAttempt

    with database.session_scope() as session:
        rows = session.execute(select(DeliveryAttempt.started_at, DeliveryAttempt.duration_ms))
        spans = [(start, start + timedelta(milliseconds=ms)) for start, ms in rows]
    if not spans:
        return 0.0, datetime.now(UTC)
    first = min(start for start, _ in spans)
    return (max(end for _, end in spans) - first).total_seconds(), first


def cap_costs(database: Any, shop_id: int, channel_pk: int) -> tuple[float, float]:
    """What frequency caps cost once a whole audience was sent this week (not timed above).

    Returns the milliseconds of ``guardrails.over_caps`` for 2,000 friends (one per-friend
    claim's worth) and the seconds to freeze the same audience again with a weekly cap, which
    counts every friend's membership in the sent batches; that second send is then cancelled.
    """
    from messaging.outbox import guardrails, service

    with database.session_scope() as session:
        guardrails.set_policy(session, shop_id=shop_id, quiet_hours=None, per_week=5)
    with database.session_scope() as session:
        policy = guardrails.PolicyBook(session, shop_id).for_source("campaign:bench")
        sample = list(session.scalars(segment(channel_pk).limit(2000)))
        started = time.perf_counter()
        guardrails.over_caps(session, sample, policy, now=datetime.now(UTC))
        over_caps_ms = (time.perf_counter() - started) * 1000
    started = time.perf_counter()
    with database.session_scope() as session:
        freeze(
            session,
            channel_pk,
            key="campaign:bench:capped",
            source="campaign:bench-capped",
            due_at=datetime.now(UTC) + timedelta(days=1),
        )
        freeze_seconds = time.perf_counter() - started
        service.cancel(session, source="campaign:bench-capped", reason="benchmark only")
    return over_caps_ms, freeze_seconds


def attempt_percentiles(database: Any) -> tuple[float, float]:
    from messaging.outbox.models import DeliveryAttempt

    with database.session_scope() as session:
        durations = sorted(session.scalars(select(DeliveryAttempt.duration_ms)))
    if not durations:
        return 0.0, 0.0
    return (
        float(durations[len(durations) // 2]),
        float(durations[min(len(durations) - 1, int(len(durations) * 0.99))]),
    )


def open_bench_database(database_url: str, *, name: str) -> Any:
    """The bench database, opened as the hub opens it (migrated, secrets readable)."""
    from config import Settings
    from tsunagu.hub import open_database

    settings = Settings(
        _env_file=None,
        database_url=database_url,
        secret_key=SECRET_KEY,
        data_dir=Path(tempfile.mkdtemp(prefix=f"tsunagu-bench-{name}-")),
    )
    return open_database(settings)


def prepare(database_url: str, *, friends: int, name: str) -> tuple[Any, int, int]:
    """A fresh bench database with one shop, one channel (no quiet hours) and ``friends``
    followers loaded with COPY: (database, shop id, channel id)."""
    from core.tenancy import Shop, create_channel, create_shop
    from messaging.outbox import guardrails
    from tests.scratch import empty_database

    empty_database(database_url)
    database = open_bench_database(database_url, name=name)
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
        guardrails.set_policy(session, shop_id=shop.id, quiet_hours=None)
        shop_id, channel_pk = shop.id, channel.id
    print(f"loading {friends:,} friends …", flush=True)
    load_friends(database, shop_id=shop_id, channel_pk=channel_pk, friends=friends)
    return database, shop_id, channel_pk


def run(args: argparse.Namespace) -> Figures:
    from jobs import tasks  # noqa: F401  (what a worker process has imported when it starts)
    from messaging.outbox import service
    from tsunagu.hub import settle_heap

    database, shop_id, channel_pk = prepare(args.database_url, friends=args.friends, name="fanout")
    sandbox = start_sandbox(args.sandbox_port, args.friends)
    api_url = f"http://127.0.0.1:{args.sandbox_port}"
    # As ``tsunagu worker`` does before its processes start.
    settle_heap()
    try:
        before = sandbox_stats(args.sandbox_port)
        planning_done = threading.Event()
        planning_seconds: list[float] = []

        def planner() -> None:
            if args.path == "audience":
                planning_seconds.append(plan_audience_in_parts(database, channel_pk))
            elif args.path == "audience-whole":
                planning_seconds.append(plan_audience(database, channel_pk))
            else:
                planning_seconds.append(plan_segment(database, channel_pk, args.chunk))
            planning_done.set()

        print("planning and sending …", flush=True)
        started, cpu_started = time.perf_counter(), time.process_time()
        wall_start = datetime.now(UTC)
        planner_thread = threading.Thread(target=planner, name="planner")
        planner_thread.start()
        _, requests = dispatch_until_done(database, api_url, args.threads, planning_done)
        end_to_end = time.perf_counter() - started
        planner_thread.join()
        hub_cpu = time.process_time() - cpu_started
        after = sandbox_stats(args.sandbox_port, full=True)
        with database.session_scope() as session:
            hub_sent = service.counts_by_state(session, source="campaign:bench").get("sent", 0)
        p50, p99 = attempt_percentiles(database)
        sending_seconds, first_request = sending_window(database)
        first_request_after = (first_request - wall_start).total_seconds()
        audience_path = args.path.startswith("audience")
        caps = cap_costs(database, shop_id, channel_pk) if audience_path else (0, 0)
        hub_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        naive_rate = naive_loop(api_url, args.naive_sample)
    finally:
        sandbox.terminate()
        sandbox.wait(timeout=30)
        database.dispose()
    expected = math.ceil(args.friends / 500)
    floor = expected / 200
    return Figures(
        path=args.path,
        load_average_1m=os.getloadavg()[0],
        friends=args.friends,
        requests_expected=expected,
        floor_seconds=floor,
        planning_seconds=round(planning_seconds[0], 2),
        first_request_after_seconds=round(first_request_after, 2),
        sending_seconds=round(sending_seconds, 2),
        end_to_end_seconds=round(end_to_end, 2),
        ratio_to_floor=round(end_to_end / floor, 2),
        requests_sent=requests,
        hub_cpu_ms_per_request=round(hub_cpu / max(1, requests) * 1000, 2),
        hub_sent=hub_sent or 0,
        sandbox_received=after["received"] - before["received"],
        sandbox_distinct_users=after["distinct_users"],
        sandbox_max_per_user=after["max_per_user"],
        hub_peak_rss_mb=round(hub_rss, 1),
        sandbox_cpu_share_while_sending=round(
            (after["cpu_seconds"] - before["cpu_seconds"]) / sending_seconds, 2
        ),
        sandbox_peak_rss_mb=round(after["max_rss_mb"], 1),
        attempt_p50_ms=p50,
        attempt_p99_ms=p99,
        naive_sample=args.naive_sample,
        naive_pushes_per_second=round(naive_rate, 1),
        naive_extrapolated_seconds=round(args.friends / naive_rate, 1),
        caps_over_caps_2000_friends_ms=round(caps[0], 1),
        caps_freeze_again_seconds=round(caps[1], 2),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command")
    sandbox = sub.add_parser("sandbox", help="(internal) serve the sandbox with N followers")
    sandbox.add_argument("--port", type=int, required=True)
    sandbox.add_argument("--friends", type=int, required=True)
    sandbox.add_argument("--latency-ms", type=float, default=0.0)
    parser.add_argument("--friends", type=int, default=1_000_000)
    parser.add_argument(
        "--database-url",
        default=os.environ.get(
            "TSUNAGU_BENCH_DATABASE_URL",
            "postgresql+psycopg://postgres@127.0.0.1:5432/tsunagu_bench_fanout",
        ),
    )
    parser.add_argument("--sandbox-port", type=int, default=8791)
    parser.add_argument(
        "--path", choices=["audience", "audience-whole", "per-friend"], default="audience"
    )
    parser.add_argument("--threads", type=int, default=6, help="dispatcher threads")
    parser.add_argument("--chunk", type=int, default=50_000, help="friends per planning commit")
    parser.add_argument("--naive-sample", type=int, default=2000)
    args = parser.parse_args()
    if args.command == "sandbox":
        serve_sandbox(args.port, args.friends, args.latency_ms)
        return
    report("fanout", asdict(run(args)))


def report(bench: str, figures: dict[str, Any], directory: Path = RESULTS) -> Path:
    """Print a bench's figures and keep them in ``{directory}/{bench}-{time}.json`` (by default
    ``bench/results/``); return the file."""
    width = max(map(len, figures)) + 4
    for name, value in figures.items():
        print(f"{name:{width}} {value}")
    directory.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = directory / f"{bench}-{stamp}.json"
    path.write_text(json.dumps(figures, indent=2, ensure_ascii=False))
    return path


if __name__ == "__main__":
    main()
