"""Auto-reply benchmark, end to end: friends' messages by signed webhook at a steady rate, each
answered by one of 100 rules or 50 FAQ entries, until the answer reaches the sandbox LINE.

``.venv/bin/python -m bench.inbox_replies`` (``--help`` for the options) does, in one run:

1. empties its own PostgreSQL database (``tsunagu_bench_inbox_replies``), migrates it, loads the
   friends (``COPY``), and saves 100 rules (contains, exact, prefix and regular expressions;
   half limited to weekdays and hours, a fifth to a tag) and 50 FAQ entries of 5 wordings each
   through the service the admin API uses (``bench.auto_replies.declare``);
2. starts the sandbox LINE platform in its own process with the same friends following, and the
   hub as ``tsunagu serve`` runs it (``bench.apps:hub_app``): ``--hub-mode broker`` (the
   default) with a Redis broker and one ``tsunagu worker`` process, or ``embedded``;
3. **timed**, for each rate of ``--rates`` (after a warm-up): the Python load generator
   (``bench.loadgen --rate``) posts signed webhooks at that steady rate for ``--duration``
   seconds, each a text message from a friend who has not written yet, with a reply token the
   sandbox issued. Every text gets an answer (a rule's keyword or an FAQ wording). The figure is
   the time from the hub's receipt of the webhook (the stored event's ``received_at``) to the
   answer's arrival at the sandbox (its ``received_at``; one machine, one clock), split into
   receipt → event processed (matched, recorded, reply planned) → answer at LINE;
4. waits for every answer, checks that each accepted message got exactly one, and reports per
   rate: the rate reached, p50/p95/p99/max, and the CPU each process used per message (hub web,
   worker, sandbox, load generator, PostgreSQL and Redis — the last two whole servers, which
   other work on the machine shares); JSON in ``bench/results/inbox_replies-*.json``.

Target: 1,000 messages/s with p99 < 1 s; otherwise the highest rate with p99 < 1 s.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import redis

from bench import inbox_seed, payloads
from bench.auto_replies import declare
from bench.fanout import CHANNEL_ID, CHANNEL_SECRET, prepare, report, serve_sandbox, start_sandbox
from bench.fanout import user_id as friend
from bench.inbox_list import hub_environment
from bench.inbox_reply_figures import Step, cpu_seconds, step_figures
from bench.inbox_reply_profile import profile
from bench.processes import HOST, REPO, Generator, Server, ServerSettings, drive, stop_process
from bench.webhook_intake import resolve_auto

TARGET_P99_S = 1.0
# Every one is answered: four rules' keywords (contains and prefix) and two FAQ wordings.
TEXTS = (
    "キーワード2について教えてください",
    "今日はキーワード8ですか",
    "キーワード14はありますか",
    "キーワード22の件です",
    "質問7の言い回しその3はありますか",
    "質問12の言い回しその1はありますか",
)


def sandbox_routes(app: Any, state: Any) -> None:
    """The bench's own routes on the sandbox: reply tokens for friends, and their answers."""

    def reply_tokens(first: int, count: int) -> list[str]:
        return [state.issue_reply_token(CHANNEL_ID, friend(n)) for n in range(first, first + count)]

    def answers(after: int = 0) -> dict[str, Any]:
        with state.lock:
            received = state.received[after:]
            return {
                "cpu_seconds": time.process_time(),
                "next": after + len(received),
                "answers": [[m.user_id, m.received_at, m.endpoint] for m in received],
            }

    app.add_api_route("/bench/reply-tokens", reply_tokens, methods=["GET"])
    app.add_api_route("/bench/answers", answers, methods=["GET"])


class Sandbox:
    """The sandbox LINE process, as the bench reads it: reply tokens and answers so far."""

    def __init__(self, port: int, friends: int) -> None:
        self.url = f"http://{HOST}:{port}"
        self.process = start_sandbox(port, friends, module="bench.inbox_replies")
        self.client = httpx.Client(base_url=self.url, timeout=120)
        self.next = 0
        self.answers: dict[str, list[tuple[float, str]]] = {}
        self.cpu = 0.0

    def reply_tokens(self, first: int, count: int) -> list[str]:
        answer = self.client.get("/bench/reply-tokens", params={"first": first, "count": count})
        return list(answer.json())

    def poll(self) -> int:
        """Read the answers received since the last poll; how many."""
        body = self.client.get("/bench/answers", params={"after": self.next}).json()
        self.next, self.cpu = body["next"], body["cpu_seconds"]
        for user, at, endpoint in body["answers"]:
            self.answers.setdefault(user, []).append((at, endpoint))
        return len(body["answers"])

    def stop(self) -> None:
        self.client.close()
        stop_process(self.process)


def sign(channel: payloads.Target, sandbox: Sandbox, first: int, count: int, workdir: Path) -> Path:
    """Write ``count`` signed webhooks, one per friend from ``first`` on; their files' prefix."""
    prefix = f"AR{first:09d}"
    tokens = sandbox.reply_tokens(first, count)
    now_ms = int(time.time() * 1000)
    requests = (
        payloads.raw_request(
            channel,
            payloads.body(
                channel,
                payloads.event_id(prefix, n),
                now_ms=now_ms,
                user_id=friend(first + n),
                text=TEXTS[n % len(TEXTS)],
                reply_token=tokens[n],
            ),
        )
        for n in range(count)
    )
    payloads.write_parts(requests, prefix, workdir, 2)
    return workdir / prefix


class Hub:
    """The hub under test: its web process and, with a broker, its worker process."""

    def __init__(self, mode: str, env: dict[str, str], results: Path) -> None:
        self.others: dict[str, subprocess.Popen[bytes]] = {}
        if mode == "broker":
            tsunagu = str(Path(sys.executable).with_name("tsunagu"))
            for name, command in (("worker", ["worker", "--concurrency", "2"]), ("beat", ["beat"])):
                with (results / f"inbox-replies-{name}.log").open("wb") as log:
                    self.others[name] = subprocess.Popen(
                        [tsunagu, *command], cwd=REPO, env=env, stdout=log, stderr=log
                    )
        settings = ServerSettings(1, *resolve_auto("auto", "auto"))
        self.web = Server("hub_app", settings, env, results / "inbox-replies-hub.log")
        self.web.wait_ready()

    def pids(self) -> dict[str, int]:
        return {"hub web": self.web.process.pid} | {n: p.pid for n, p in self.others.items()}

    def stop(self) -> None:
        self.web.stop()
        for process in self.others.values():
            stop_process(process)


def run_step(
    step: Step, hub: Hub, sandbox: Sandbox, channel: payloads.Target, args: argparse.Namespace
) -> dict[str, Any]:
    """Post webhooks at ``step.rate`` for ``step.duration`` s, wait for the answers, measure."""
    workdir = Path(args.workdir)
    files = sign(channel, sandbox, step.first, step.count, workdir)
    # No more connections than the rate keeps busy: one waiting over 5 s for its next slot
    # would be closed by the server as idle (uvicorn's keep-alive timeout) mid-request.
    generator = Generator("python", 2, min(args.connections, max(2, int(step.rate))), step.rate)
    cpu_before = cpu_seconds(hub.pids(), sandbox.process.pid)
    load_before = os.getloadavg()
    started = time.time()
    run = drive(
        "hub", generator, channel.port, files, step.duration, server_pid=hub.web.process.pid
    )
    # Wait for this step's friends' answers (not an earlier step's late ones), while they come.
    expected = run.sent - run.error_count
    friends = [friend(n) for n in range(step.first, step.first + step.count)]
    deadline, waiting_since = time.monotonic() + args.drain, time.monotonic()
    while time.monotonic() < deadline:
        if sandbox.poll():
            waiting_since = time.monotonic()
        elif time.monotonic() - waiting_since > 30:
            break
        if sum(1 for user in friends if user in sandbox.answers) >= expected:
            break
        time.sleep(0.2)
    drained = time.time()
    cpu_after = cpu_seconds(hub.pids(), sandbox.process.pid)
    for part in range(2):
        files.with_name(f"{files.name}.{part}").unlink(missing_ok=True)
    return step_figures(
        step,
        run,
        files.name,
        sandbox.answers,
        database_url=args.database_url,
        window=(started, drained),
        cpu={k: cpu_after[k] - cpu_before.get(k, 0.0) for k in cpu_after},
        load=(load_before, os.getloadavg()),
    )


def steps(args: argparse.Namespace) -> list[Step]:
    plan, first = [], 0
    for number, rate in enumerate([args.warmup_rate, *args.rates]):
        duration = args.warmup if number == 0 else args.duration
        count = int(rate * duration * 1.1) + 10
        plan.append(Step(rate=rate, duration=duration, first=first, count=count, warmup=not number))
        first += count
    return plan


def run(args: argparse.Namespace) -> dict[str, Any]:
    plan = steps(args)
    profiled = Step(rate=0, duration=0, first=plan[-1].first + plan[-1].count, count=args.profile)
    friends = profiled.first + profiled.count
    print(f"loading {friends:,} friends, 100 rules and 50 FAQ entries …", flush=True)
    database, shop_id, _ = prepare(args.database_url, friends=friends, name="inbox_replies")
    declare(database, shop_id, 100, 50)
    database.dispose()
    args.results_dir.mkdir(parents=True, exist_ok=True)
    sandbox = Sandbox(args.sandbox_port, friends)
    hub = None
    figures: dict[str, Any] = {
        "hub_mode": args.hub_mode,
        "rules": 100,
        "faq_entries": 50,
        "connections": args.connections,
        "duration_s": args.duration,
        "steps": [],
    }
    try:
        if args.profile:
            print(f"profiling {args.profile} messages in this process …", flush=True)
            tokens = sandbox.reply_tokens(profiled.first, profiled.count)
            figures["profile"] = profile(args.database_url, profiled, TEXTS, tokens, sandbox.url)
            print_profile(figures["profile"])
        with tempfile.TemporaryDirectory(prefix="tsunagu-bench-replies-") as data_dir:
            args.workdir = data_dir
            env = hub_environment(args.database_url, Path(data_dir) / "data")
            env |= {"TSUNAGU_LINE_API_URL": sandbox.url, "TSUNAGU_LINE_ACCESS_URL": sandbox.url}
            if args.hub_mode == "broker":
                redis.Redis.from_url(args.broker_url).flushdb()
                env["TSUNAGU_BROKER_URL"] = args.broker_url
            hub = Hub(args.hub_mode, env, args.results_dir)
            channel = payloads.Target(
                HOST, hub.web.port, CHANNEL_ID, CHANNEL_SECRET, inbox_seed.BOT_USER_ID
            )
            for step in plan:
                label = "warm-up" if step.warmup else "step"
                print(f"{label}: {step.rate:g}/s for {step.duration} s …", flush=True)
                result = run_step(step, hub, sandbox, channel, args)
                if not step.warmup:
                    figures["steps"].append(result)
                    print("  " + summary_line(result), flush=True)
    finally:
        if hub is not None:
            hub.stop()
        sandbox.stop()
    meeting = [s["rate_target"] for s in figures["steps"] if s["ok"]]
    figures["highest_rate_with_p99_under_1s"] = max(meeting, default=None)
    figures["target_met"] = any(s["rate_target"] >= 1000 and s["ok"] for s in figures["steps"])
    return figures


def print_profile(found: dict[str, Any]) -> None:
    for stage in ("processing", "sending"):
        summary = found[stage]
        print(
            f"  {stage}: {summary['cpu_us_per_message']:,.0f} µs CPU per message (profiled), "
            f"{found[f'{stage}_statements_per_message']} SQL statements"
        )
        for part, row in list(summary["parts"].items())[:8]:
            print(f"    {row['percent']:5.1f} %  {part}")


def summary_line(step: dict[str, Any]) -> str:
    latency = step["latency_ms"]
    return (
        f"intake {step['intake_rate']:,.0f}/s, answered {step['answered']:,}/"
        f"{step['accepted']:,}, p50 {latency['p50']:.0f} ms, p95 {latency['p95']:.0f} ms, "
        f"p99 {latency['p99']:.0f} ms, max {latency['max']:.0f} ms; load {step['load_average']}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    sub = parser.add_subparsers(dest="command")
    sandbox = sub.add_parser("sandbox", help="(internal) serve the sandbox with N followers")
    sandbox.add_argument("--port", type=int, required=True)
    sandbox.add_argument("--friends", type=int, required=True)
    sandbox.add_argument("--latency-ms", type=float, default=0.0)
    add = parser.add_argument
    add("--hub-mode", choices=["broker", "embedded"], default="broker")
    add(
        "--rates",
        type=lambda text: [float(r) for r in text.split(",")],
        default=[250.0, 500.0, 750.0, 1000.0],
        help="messages per second, one step each (default 250,500,750,1000)",
    )
    add("--duration", type=int, default=10, help="seconds per step (default 10)")
    add("--warmup", type=int, default=3, help="seconds of warm-up at --warmup-rate")
    add("--warmup-rate", type=float, default=10.0)
    add("--connections", type=int, default=64)
    add("--drain", type=float, default=120.0, help="seconds to wait for the answers at most")
    add("--sandbox-port", type=int, default=8793)
    add("--profile", type=int, default=300, help="messages profiled in-process first (0: none)")
    add(
        "--broker-url",
        default="redis://127.0.0.1:6379/3",
        help="with --hub-mode broker: a Redis database of the bench's own (FLUSHED)",
    )
    add(
        "--database-url",
        default=os.environ.get(
            "TSUNAGU_BENCH_DATABASE_URL",
            "postgresql+psycopg://postgres@127.0.0.1:5432/tsunagu_bench_inbox_replies",
        ),
        help="EMPTIED on every run",
    )
    add("--results-dir", type=Path, default=REPO / "bench" / "results")
    args = parser.parse_args()
    if args.command == "sandbox":
        serve_sandbox(args.port, args.friends, args.latency_ms, extend=sandbox_routes)
        return
    report("inbox_replies", run(args), args.results_dir)


if __name__ == "__main__":
    main()
