"""Live inbox benchmark: how soon a friend's message reaches 50 open consoles on 2 hub processes.

``.venv/bin/python -m bench.inbox_live`` (``--help`` for the options) does, in one run:

1. empties its own PostgreSQL database (``tsunagu_bench_inbox_live``), migrates it and loads a
   small inbox (``bench.inbox_seed``: 1,000 friends with their conversations, and the staff);
2. starts two hub processes as ``tsunagu serve`` does (``bench.apps:hub_app``, the embedded
   runtime, each its own uvicorn process on the same database), and opens C consoles: each a
   staff sign-in through the login form, then ``GET /console/inbox/events`` (server-sent
   events, httpx streaming), half of them on each process;
3. **timed**, M times, one friend after another: a signed LINE webhook with the friend's text
   message is posted to the first process, and the clock runs from just before the post until
   each console has read the ``conversation`` event of that friend's conversation. The path is
   the production one: intake (store, 200), the worker records the message and writes the
   signal in its transaction, whose commit wakes each process's watcher (``NOTIFY``), which
   reads the new signals and writes the event to its consoles' streams;
4. prints p50/p95/max over every (message, console) pair, the slowest console per message,
   and the two stages: post → signal written (the signal row's time) → console,
   and writes them as JSON to ``bench/results/inbox_live-*.json``.

Target: every console within 1 s (the max).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import tempfile
import time
from collections import defaultdict
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import create_engine, func, select

from bench import inbox_seed, payloads
from bench.fanout import CHANNEL_ID, CHANNEL_SECRET, report, user_id
from bench.inbox_list import hub_environment, signed_in
from bench.processes import HOST, REPO, Server, ServerSettings
from bench.webhook_intake import resolve_auto

TARGET_MAX_MS = 1000.0
FRIENDS = 1000


@dataclass(slots=True)
class Console:
    """One open console: its session cookie, and when it read each conversation's event."""

    url: str
    cookies: httpx.Cookies
    ready: asyncio.Event = field(default_factory=asyncio.Event)
    seen: dict[int, float] = field(default_factory=dict)

    async def listen(self) -> None:
        async with (
            # The stream says "still here" every 10 s: a minute without a line is a failure.
            httpx.AsyncClient(base_url=self.url, cookies=self.cookies, timeout=60) as client,
            client.stream("GET", "/console/inbox/events") as stream,
        ):
            if stream.status_code != 200:
                raise RuntimeError(f"the event stream answered {stream.status_code}")
            async for line in stream.aiter_lines():
                if line.startswith("retry:"):
                    self.ready.set()
                elif line.startswith("data: "):
                    event = json.loads(line.removeprefix("data: "))
                    self.seen.setdefault(event["conversation_id"], time.time())


def webhook(port: int, friend: int) -> bytes:
    """A signed webhook request: friend number ``friend`` writes a text message."""
    target = payloads.Target(HOST, port, CHANNEL_ID, CHANNEL_SECRET, inbox_seed.BOT_USER_ID)
    content = payloads.body(
        target,
        payloads.event_id("LIVE", friend),
        now_ms=int(time.time() * 1000),
        user_id=user_id(friend),
        text="今から行きます",
    )
    return payloads.raw_request(target, content)


async def post_raw(port: int, request: bytes) -> int:
    """Send one raw HTTP/1.1 request; return the response's status."""
    reader, writer = await asyncio.open_connection(HOST, port)
    try:
        writer.write(request)
        await writer.drain()
        status = int((await reader.readline()).split()[1])
    finally:
        writer.close()
    return status


async def measure(
    consoles: list[Console], conversation_of: dict[int, int], port: int, args: argparse.Namespace
) -> dict[int, float]:
    """Open every console, then send the messages one by one; when each conversation's
    message was posted (Unix time)."""
    listeners = [asyncio.create_task(console.listen()) for console in consoles]
    try:
        await asyncio.wait_for(asyncio.gather(*(c.ready.wait() for c in consoles)), 60)
        # Each process's watcher starts on its first console and begins after what exists.
        await asyncio.sleep(1.0)
        posted = {}
        for friend in range(args.messages):
            conversation = conversation_of[friend]
            request = webhook(port, friend)
            posted[conversation] = time.time()
            status = await post_raw(port, request)
            if status != 200:
                raise RuntimeError(f"the webhook answered {status}")
            deadline = posted[conversation] + args.timeout
            while time.time() < deadline:
                if all(conversation in c.seen for c in consoles):
                    break
                await asyncio.sleep(0.005)
            await asyncio.sleep(args.gap)
        return posted
    finally:
        for listener in listeners:
            listener.cancel()
        await asyncio.gather(*listeners, return_exceptions=True)


def signal_times(database_url: str, posted: dict[int, float]) -> dict[int, float]:
    """When the worker wrote each conversation's ``message`` signal (Unix time)."""
    from core.clock import as_utc
    from inbox.models import InboxSignal

    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                select(InboxSignal.conversation_id, func.min(InboxSignal.at))
                .where(InboxSignal.kind == "message", InboxSignal.conversation_id.in_(posted))
                .group_by(InboxSignal.conversation_id)
            ).all()
    finally:
        engine.dispose()
    return {conversation: as_utc(at).timestamp() for conversation, at in rows}


def summary(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    at = lambda q: ordered[min(len(ordered) - 1, int(len(ordered) * q))]  # noqa: E731
    return {
        "p50_ms": round(at(0.5) * 1000, 1),
        "p95_ms": round(at(0.95) * 1000, 1),
        "max_ms": round(ordered[-1] * 1000, 1),
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    from idlink.models import Friend
    from inbox.models import Conversation

    print(f"loading {FRIENDS:,} conversations …", flush=True)
    inbox = inbox_seed.load(args.database_url, conversations=FRIENDS, messages=1, name="live")
    with inbox.database.session_scope() as session:
        by_user = dict(
            session.execute(
                select(Friend.line_user_id, Conversation.id).join(
                    Conversation, Conversation.friend_id == Friend.id
                )
            ).all()
        )
    inbox.database.dispose()
    conversation_of = {n: by_user[user_id(n)] for n in range(args.messages)}
    load_before = os.getloadavg()
    settings = ServerSettings(1, *resolve_auto("auto", "auto"))
    args.results_dir.mkdir(parents=True, exist_ok=True)
    with ExitStack() as stack:
        data_dir = stack.enter_context(tempfile.TemporaryDirectory(prefix="tsunagu-bench-live-"))
        env = hub_environment(args.database_url, Path(data_dir))
        servers = []
        for number in (1, 2):
            log = args.results_dir / f"inbox-live-hub{number}.log"
            server = Server("hub_app", settings, env, log)
            stack.callback(server.stop)
            servers.append(server)
        consoles = []
        for server in servers:
            server.wait_ready()
        for number in range(args.consoles):
            url = f"http://{HOST}:{servers[number % 2].port}"
            browser = signed_in(url, inbox_seed.STAFF[number % len(inbox_seed.STAFF)])
            consoles.append(Console(url, browser.client.cookies))
        print(f"{args.consoles} consoles, {args.messages} messages …", flush=True)
        posted = asyncio.run(measure(consoles, conversation_of, servers[0].port, args))
    delays = [[c.seen.get(k, float("inf")) - at for c in consoles] for k, at in posted.items()]
    signalled = signal_times(args.database_url, posted)
    every = [d for message in delays for d in message]
    per_process: dict[str, list[float]] = defaultdict(list)
    for message in delays:
        for number, delay in enumerate(message):
            per_process[f"process_{number % 2 + 1}"].append(delay)
    slowest = [max(message) for message in delays]
    return {
        "consoles": args.consoles,
        "processes": 2,
        "messages": args.messages,
        "load_average_before": [round(x, 2) for x in load_before],
        "every_console": summary(every),
        **{name: summary(values) for name, values in sorted(per_process.items())},
        "slowest_console_per_message": summary(slowest),
        "post_to_signal_written": summary([signalled[k] - at for k, at in posted.items()]),
        "signal_written_to_console": summary(
            [c.seen.get(k, float("inf")) - signalled[k] for k in posted for c in consoles]
        ),
        "missed": sum(1 for d in every if d == float("inf")),
        "target_max_ms": TARGET_MAX_MS,
        "target_met": max(every) * 1000 < TARGET_MAX_MS,
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--consoles", type=int, default=50)
    parser.add_argument("--messages", type=int, default=40, help="messages, one after another")
    parser.add_argument("--gap", type=float, default=0.3, help="seconds between two messages")
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds to wait for one")
    parser.add_argument(
        "--database-url",
        default=os.environ.get(
            "TSUNAGU_BENCH_DATABASE_URL",
            "postgresql+psycopg://postgres@127.0.0.1:5432/tsunagu_bench_inbox_live",
        ),
        help="EMPTIED on every run",
    )
    parser.add_argument("--results-dir", type=Path, default=REPO / "bench" / "results")
    args = parser.parse_args()
    if args.messages > FRIENDS:
        parser.error(f"at most {FRIENDS} messages (one per friend)")
    report("inbox_live", run(args), args.results_dir)


if __name__ == "__main__":
    main()
