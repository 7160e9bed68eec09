"""Webhook intake benchmark: signed LINE webhooks stored durably vs. a bare FastAPI endpoint.

``.venv/bin/python -m bench.webhook_intake`` (``--help`` for the options) does, in one run:

1. drops and re-creates its own PostgreSQL database (``tsunagu_bench``), migrates it with
   ``tsunagu.migrate.upgrade``, and registers a shop and a LINE channel (``core.tenancy``);
2. starts the hub (``build_hub``, as ``tsunagu serve`` does) and a bare FastAPI app with the
   same route that only reads the body, each in its own uvicorn process with the same settings
   (workers, event loop, HTTP parser), and warms both up;
3. measures them in turns, R rounds of D seconds each (hub first in odd rounds, bare first in
   even ones), with the same load generator at C connections, every request a new
   ``webhookEventId`` with a valid signature. Taking turns matters on a shared machine: both
   servers see the same background load, so the ratio holds even when absolute figures move;
4. checks that every accepted event was stored exactly once, and that each stored event sent
   exactly one nudge (task message) to the broker;
5. measures the load generator's own ceiling against a canned-response server;
6. prints a table and writes the figures as JSON to ``bench/results/``.

The hub runs on PostgreSQL (``synchronous_commit`` untouched, so every 200 means the row is on
disk) with JSON access logs at INFO, and **nothing processes the events while it is measured**:
a worker would spend the same two cores on the handlers, and the figure would mix intake with
processing. Two modes (``--hub-mode``):

- ``intake`` (default): the embedded runtime with its worker stopped. Measured: verify → store
  → commit → 200, which is what LINE waits for; each new event's nudge is dropped with a log
  line and the rows stay pending, as a sweeper would find them.
- ``broker``: the production runtime (``TSUNAGU_BROKER_URL``, a Redis database of the bench's
  own) with no Celery worker running. The events of the batches committed within 10 ms are
  also published as one Celery task, from a thread of its own, as ``tsunagu serve`` does; the
  nudges are counted (each stored row in exactly one), then deleted.

Load generator: ``wrk`` when it is on the PATH (Debian/Ubuntu: ``apt-get install wrk``), else a
pure-Python asyncio raw-socket client (``bench.loadgen``). On a 2-core machine the generator
shares the CPU with the server and PostgreSQL, so it must be cheap: wrk is event-driven C and
replays the pre-signed requests from memory (``bench/intake.lua``), costing a few percent of a
core; the Python client costs several times more and lowers both figures. The table reports the
generator's ceiling and the CPU it used in each run, so its share can be judged.

Every run is bounded: R x D seconds per server plus the warm-up, at most ``--max-requests``
pre-signed requests per run (a generator that runs out stops rather than repeat one), and
traffic only to 127.0.0.1.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import secrets
import shutil
import tempfile
from dataclasses import dataclass, field, replace
from pathlib import Path

import redis
from rich.console import Console
from sqlalchemy import create_engine, func, or_, select
from sqlalchemy.engine import make_url

from bench import payloads, report
from bench.processes import (
    HOST,
    REPO,
    Generator,
    Run,
    Server,
    ServerSettings,
    canned_server,
    drive,
    stop_process,
)
from config import Settings
from core import crypto
from core.db import Database
from core.inbox import InboundEvent
from core.serving import free_port
from core.tenancy import create_channel, create_shop
from tests.scratch import recreate_database
from tsunagu import migrate

QUEUE = "celery"
console = Console(width=max(100, Console().width))


@dataclass(frozen=True, slots=True)
class Options:
    database_url: str
    hub_mode: str
    broker_url: str
    duration: int
    rounds: int
    warmup: int
    server: ServerSettings
    generator: Generator
    max_requests: int
    ceiling_seconds: int
    results_dir: Path


@dataclass(slots=True)
class Target:
    """One server under test, the requests signed for it, and its runs so far."""

    name: str
    server: Server
    aimed: payloads.Target
    per_run: int = 0
    runs: list[Run] = field(default_factory=list)
    prefixes: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Verification:
    sent: int
    accepted: int
    stored: int
    duplicates: int
    stored_but_never_sent: int
    accepted_but_missing: int | None
    nudges_enqueued: int | None
    events_nudged: int | None
    events_nudged_twice: int | None
    rows_total: int

    @property
    def ok(self) -> bool:
        return (
            self.duplicates == 0
            and self.stored_but_never_sent == 0
            and self.accepted_but_missing in (None, 0)
            and self.stored >= self.accepted
            and self.events_nudged in (None, self.rows_total)
            and self.events_nudged_twice in (None, 0)
        )


def register_channel(url: str, secret_key: str, data_dir: Path) -> payloads.Target:
    """Migrate the fresh database and register one shop with one LINE channel."""
    crypto.configure(Settings(_env_file=None, secret_key=secret_key, data_dir=data_dir))
    database = Database(url, pool_size=1, max_overflow=0)
    try:
        migrate.upgrade(database.engine)
        channel_secret = secrets.token_hex(16)
        line_channel_id = str(2_000_000_000 + secrets.randbelow(10**9))
        with database.session_scope() as session:
            shop = create_shop(session, slug="bench", name="Benchmark shop")
            create_channel(
                session,
                shop=shop,
                name="Benchmark account",
                line_channel_id=line_channel_id,
                channel_secret=channel_secret,
                access_token=secrets.token_urlsafe(32),
            )
    finally:
        database.dispose()
    return payloads.Target(
        host=HOST,
        port=0,
        line_channel_id=line_channel_id,
        channel_secret=channel_secret,
        bot_user_id="U" + secrets.token_hex(16),
    )


def sign(target: Target, label: str, count: int, workdir: Path, parts: int) -> Path:
    """Write ``count`` fresh signed requests for ``target``; return their files' prefix."""
    prefix = f"{target.name[:3].upper()}{label}{secrets.token_hex(2).upper()}"
    payloads.write_request_files(target.aimed, prefix, count, workdir, parts)
    return workdir / prefix


def warm_up(target: Target, options: Options, workdir: Path) -> None:
    """Warm the server up and size its runs from the rate it reached."""
    count = min(options.max_requests, options.warmup * 6000)
    files = sign(target, "W", count, workdir, options.generator.threads)
    with console.status(f"{target.name}: warming up for {options.warmup} s"):
        run = drive(
            target.name,
            options.generator,
            target.server.port,
            files,
            options.warmup,
            server_pid=target.server.process.pid,
        )
    _remove(files, options.generator.threads)
    target.per_run = run_size(run.rps, options)


def run_size(rps: float, options: Options) -> int:
    """Requests to sign for one run: three times what the best rate so far would use (a cold
    warm-up understates it), at least 20,000, at most ``--max-requests``."""
    return min(options.max_requests, max(20_000, int(rps * options.duration * 3)))


def measure_round(target: Target, number: int, options: Options, workdir: Path) -> None:
    """One measured run of ``options.duration`` seconds with fresh requests."""
    with console.status(f"{target.name}: signing {target.per_run:,} requests"):
        files = sign(target, f"R{number}", target.per_run, workdir, options.generator.threads)
    with console.status(f"{target.name}: round {number}, {options.duration} s"):
        run = drive(
            target.name,
            options.generator,
            target.server.port,
            files,
            options.duration,
            server_pid=target.server.process.pid,
        )
    _remove(files, options.generator.threads)
    target.runs.append(run)
    target.prefixes.append(files.name)
    target.per_run = max(target.per_run, run_size(run.rps, options))


def _remove(files: Path, parts: int) -> None:
    for part in range(parts):
        files.with_name(f"{files.name}.{part}").unlink(missing_ok=True)


def measure(
    options: Options, env: dict[str, str], channel: payloads.Target, workdir: Path
) -> tuple[Target, Target]:
    """Start both servers, warm them up, and measure them in turns."""
    targets: list[Target] = []
    try:
        hub_factory = "hub_app" if options.hub_mode == "broker" else "hub_intake_app"
        for name, factory in (("hub", hub_factory), ("bare", "bare_app")):
            log = options.results_dir / f"{name}-server.log"
            server = Server(factory, options.server, env, log)
            targets.append(Target(name, server, replace(channel, port=server.port)))
        for target in targets:
            target.server.wait_ready()
            warm_up(target, options, workdir)
        for number in range(1, options.rounds + 1):
            for target in targets if number % 2 else targets[::-1]:
                measure_round(target, number, options, workdir)
    finally:
        for target in targets:
            target.server.stop()
    return targets[0], targets[1]


def measure_ceiling(options: Options, channel: payloads.Target, workdir: Path) -> Run:
    """The load generator against a server that answers with canned bytes: its own ceiling."""
    port = free_port(HOST)
    process = canned_server(port, options.results_dir / "canned-server.log")
    try:
        files = workdir / "CEIL"
        payloads.write_request_files(
            replace(channel, port=port), files.name, 1000, workdir, options.generator.threads
        )
        with console.status(f"generator ceiling: {options.ceiling_seconds} s"):
            return drive(
                "generator ceiling",
                options.generator,
                port,
                files,
                options.ceiling_seconds,
                server_pid=process.pid,
                cycle=True,
            )
    finally:
        stop_process(process)


def verify(options: Options, hub: Target) -> Verification:
    """Check that every accepted event is stored exactly once and nudged exactly once."""
    parts = options.generator.threads
    sent: set[str] = set()
    refused: set[str] = set()
    exact = True
    for run, prefix in zip(hub.runs, hub.prefixes, strict=True):
        sent |= payloads.sent_event_ids(prefix, parts, run.raw["sent_per_part"])
        exact = exact and "refused" in run.raw
        for part, index in run.raw.get("refused", []):
            refused.add(payloads.event_id(prefix, part + index * parts))
    engine = create_engine(options.database_url)
    try:
        with engine.connect() as connection:
            matches = [InboundEvent.dedup_key.like(f"{prefix}%") for prefix in hub.prefixes]
            keys = list(
                connection.scalars(
                    select(InboundEvent.dedup_key).where(
                        InboundEvent.source == "line", or_(*matches)
                    )
                )
            )
            rows_total = connection.scalar(select(func.count()).select_from(InboundEvent)) or 0
    finally:
        engine.dispose()
    stored = set(keys)
    nudges = take_nudges(options.broker_url) if options.hub_mode == "broker" else None
    nudged = None if nudges is None else [i for message in nudges for i in message]
    # wrk cannot say which request got which answer, only how many: with it, the check is that
    # at least as many events were stored as were accepted, and none was stored twice.
    accepted = sum(r.requests - r.errors["status"] for r in hub.runs)
    return Verification(
        sent=len(sent),
        accepted=len(sent - refused) if exact else accepted,
        stored=len(stored),
        duplicates=len(keys) - len(stored),
        stored_but_never_sent=len(stored - sent),
        accepted_but_missing=len(sent - refused - stored) if exact else None,
        nudges_enqueued=None if nudges is None else len(nudges),
        events_nudged=None if nudged is None else len(set(nudged)),
        events_nudged_twice=None if nudged is None else len(nudged) - len(set(nudged)),
        rows_total=rows_total,
    )


def take_nudges(broker_url: str) -> list[list[int]]:
    """The event ids of each task message waiting in the broker's queue; the queue is emptied."""
    broker = redis.Redis.from_url(broker_url)
    try:
        waiting = broker.lrange(QUEUE, 0, -1)
        broker.delete(QUEUE)
    finally:
        broker.close()
    return [_nudged_ids(message) for message in waiting]


def _nudged_ids(raw: bytes | str) -> list[int]:
    """The event ids one Celery task message (protocol 2, JSON body) asks to process."""
    message = json.loads(raw)
    _args, kwargs, _embed = json.loads(base64.b64decode(message["body"]))
    if message["headers"]["task"] != "events.process_batch":
        return []
    return [int(i) for i in kwargs["event_ids"]]


def parse_args(argv: list[str] | None) -> Options:
    parser = argparse.ArgumentParser(
        prog="python -m bench.webhook_intake",
        description="Webhook intake on PostgreSQL vs. a bare FastAPI endpoint (issue §6).",
    )
    add = parser.add_argument
    add(
        "--database-url",
        default="postgresql+psycopg://postgres@127.0.0.1:5432/tsunagu_bench",
        help="the benchmark's own database: DROPPED and re-created on every run",
    )
    add(
        "--hub-mode",
        default="intake",
        choices=["intake", "broker"],
        help="intake: embedded worker stopped (default); broker: Celery nudges to Redis, no worker",
    )
    add(
        "--broker-url",
        default="redis://127.0.0.1:6379/12",
        help="with --hub-mode broker: a Redis database for the nudges (its queue is emptied)",
    )
    add("--duration", type=int, default=10, help="seconds per measured run (default 10)")
    add("--rounds", type=int, default=3, help="measured runs per server, in turns (default 3)")
    add("--warmup", type=int, default=3, help="seconds of warm-up per server (default 3)")
    add("--connections", type=int, default=32, help="concurrent connections (default 32)")
    add("--threads", type=int, default=2, help="load-generator threads (default 2)")
    add("--workers", type=int, default=1, help="uvicorn worker processes (default 1)")
    add("--loop", default="auto", choices=["auto", "asyncio", "uvloop"])
    add("--http", default="auto", choices=["auto", "h11", "httptools"])
    add("--generator", default="auto", choices=["auto", "wrk", "python"])
    add(
        "--max-requests",
        type=int,
        default=200_000,
        help="pre-signed requests per run at most (default 200000)",
    )
    add("--ceiling-seconds", type=int, default=5, help="generator ceiling run; 0 skips it")
    add("--results-dir", type=Path, default=REPO / "bench" / "results")
    args = parser.parse_args(argv)
    if make_url(args.database_url).get_backend_name() != "postgresql":
        parser.error("the intake benchmark measures PostgreSQL: pass a postgresql+psycopg URL")
    if not args.broker_url.startswith("redis://"):
        parser.error("--broker-url must be a redis:// URL (its queue is counted and emptied)")
    kind = args.generator
    if kind == "auto":
        kind = "wrk" if shutil.which("wrk") else "python"
    elif kind == "wrk" and not shutil.which("wrk"):
        parser.error("wrk is not installed (apt-get install wrk); or pass --generator python")
    if args.connections < args.threads:
        parser.error("--connections must be at least --threads")
    return Options(
        database_url=args.database_url,
        hub_mode=args.hub_mode,
        broker_url=args.broker_url,
        duration=args.duration,
        rounds=args.rounds,
        warmup=args.warmup,
        server=ServerSettings(args.workers, *resolve_auto(args.loop, args.http)),
        generator=Generator(kind, args.threads, args.connections),
        max_requests=args.max_requests,
        ceiling_seconds=args.ceiling_seconds,
        results_dir=args.results_dir,
    )


def resolve_auto(loop: str, http: str) -> tuple[str, str]:
    """Replace uvicorn's ``auto`` by what it would pick here, so the report says what ran."""
    if loop == "auto":
        loop = "uvloop" if _installed("uvloop") else "asyncio"
    if http == "auto":
        http = "httptools" if _installed("httptools") else "h11"
    return loop, http


def _installed(module: str) -> bool:
    try:
        __import__(module)
    except ImportError:
        return False
    return True


def main(argv: list[str] | None = None) -> None:
    options = parse_args(argv)
    options.results_dir.mkdir(parents=True, exist_ok=True)
    load_at_start = os.getloadavg()
    secret_key = secrets.token_urlsafe(32)
    with tempfile.TemporaryDirectory(prefix="tsunagu-bench-") as tmp:
        workdir = Path(tmp)
        with console.status("creating the benchmark database"):
            recreate_database(options.database_url)
            channel = register_channel(options.database_url, secret_key, workdir / "data")
        env = {k: v for k, v in os.environ.items() if not k.startswith("TSUNAGU_")}
        env |= {
            "TSUNAGU_DATABASE_URL": options.database_url,
            "TSUNAGU_SECRET_KEY": secret_key,
            "TSUNAGU_DATA_DIR": str(workdir / "data"),
            "TSUNAGU_LOG_LEVEL": "INFO",
            "TSUNAGU_LOG_FORMAT": "json",
        }
        if options.hub_mode == "broker":
            take_nudges(options.broker_url)
            env["TSUNAGU_BROKER_URL"] = options.broker_url
        hub, bare = measure(options, env, channel, workdir)
        check = verify(options, hub)
        ceiling = None
        if options.ceiling_seconds > 0:
            ceiling = measure_ceiling(options, channel, workdir)
    path = report.write(console, options, hub.runs, bare.runs, ceiling, check, load_at_start)
    console.print(f"results: {path}")
    if not check.ok:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
