"""Inbox list benchmark: the console's conversation list with 100,000 conversations, over HTTP.

``.venv/bin/python -m bench.inbox_list`` (``--help`` for the options) does, in one run:

1. empties its own database (PostgreSQL ``tsunagu_bench_inbox_list``, or an SQLite file with
   ``--database-url sqlite:///…``), migrates it and loads (not timed, ``bench.inbox_seed``) N
   friends, one conversation each (60 % resolved, 15 % new, 15 % open, 10 % snoozed; half
   assigned to one of four staff; a quarter marked) and M messages per conversation;
2. starts the hub as ``tsunagu serve`` does (``bench.apps:hub_app``, its own uvicorn process)
   and signs a staff member in through the console's login form;
3. **timed**: ``GET /console/inbox`` with each view (mine, unassigned, all), a status, a mark,
   and a search (a common word, a friend's name, a word nobody wrote), ``--repeat`` times each
   after one warm-up, through real HTTP with the signed-in session. Every page renders its
   rows and the counts of every view, status and mark, as staff see them;
4. prints p50/p95/max per page and the hub process's CPU per page (the steadier figure on a
   shared machine; PostgreSQL's is not counted), and writes them as JSON to
   ``bench/results/inbox_list-*.json``.

Target: p95 < 200 ms for every page.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import inbox_seed
from bench.fanout import SECRET_KEY, report
from bench.friends_list import percentiles
from bench.processes import REPO, Server, ServerSettings, process_tree_cpu_seconds
from bench.webhook_intake import resolve_auto

TARGET_P95_MS = 200.0


def pages(inbox: inbox_seed.Inbox) -> dict[str, dict[str, str]]:
    """The list pages timed: name -> query string parameters."""
    mark = str(inbox.marks[inbox_seed.MARKS[0]])
    return {
        "all": {},
        "mine": {"view": "mine"},
        "unassigned": {"view": "unassigned"},
        "all_status_new": {"status": "new"},
        "unassigned_status_open": {"view": "unassigned", "status": "open"},
        "all_status_resolved": {"status": "resolved"},
        "all_mark": {"mark": mark},
        "mine_mark": {"view": "mine", "mark": mark},
        "search_common_word": {"q": "駐車場"},
        "search_friend_name": {"q": f"お客様{inbox.conversations // 2}"},
        "search_nobody_wrote": {"q": "存在しない言葉"},
    }


def hub_environment(database_url: str, data_dir: Path) -> dict[str, str]:
    """The hub's environment: configured only through TSUNAGU_* variables, as deployed."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TSUNAGU_")}
    return env | {
        "TSUNAGU_DATABASE_URL": database_url,
        "TSUNAGU_SECRET_KEY": SECRET_KEY,
        "TSUNAGU_DATA_DIR": str(data_dir),
        "TSUNAGU_LOG_LEVEL": "WARNING",
    }


def signed_in(url: str, email: str) -> Any:
    """A console session of ``email`` (the console's own login form, CSRF and all)."""
    from tests.console.support import Browser

    browser = Browser(url)
    answer = browser.sign_in(email)
    if answer.status_code != 303:
        raise RuntimeError(f"could not sign in as {email}: {answer.status_code}")
    browser.client.timeout = 60
    return browser


def time_page(browser: Any, params: dict[str, str]) -> float:
    started = time.perf_counter()
    answer = browser.get("/console/inbox", params=params)
    elapsed = time.perf_counter() - started
    if answer.status_code != 200 or "</html>" not in answer.text:
        raise RuntimeError(f"/console/inbox {params} answered {answer.status_code}")
    return elapsed


def run(args: argparse.Namespace) -> dict[str, Any]:
    print(f"loading {args.conversations:,} conversations …", flush=True)
    inbox = inbox_seed.load(
        args.database_url,
        conversations=args.conversations,
        messages=args.messages,
        name="inbox_list",
    )
    inbox.database.dispose()
    figures: dict[str, Any] = {
        "backend": inbox.database.engine.dialect.name,
        "conversations": args.conversations,
        "messages": args.conversations * args.messages,
        "load_seconds": round(inbox.seconds, 1),
        "repeat": args.repeat,
        "load_average_before": [round(x, 2) for x in os.getloadavg()],
    }
    with tempfile.TemporaryDirectory(prefix="tsunagu-bench-inbox-") as data_dir:
        env = hub_environment(args.database_url, Path(data_dir))
        log = args.results_dir / "inbox-list-hub.log"
        args.results_dir.mkdir(parents=True, exist_ok=True)
        server = Server("hub_app", ServerSettings(1, *resolve_auto("auto", "auto")), env, log)
        try:
            server.wait_ready()
            browser = signed_in(f"http://127.0.0.1:{server.port}", inbox_seed.STAFF[0])
            print("timing …", flush=True)
            for name, params in pages(inbox).items():
                time_page(browser, params)  # warm the caches once
                cpu = process_tree_cpu_seconds(server.process.pid)
                timed = [time_page(browser, params) for _ in range(args.repeat)]
                cpu = process_tree_cpu_seconds(server.process.pid) - cpu
                figures[name] = percentiles(timed) | {
                    "hub_cpu_ms": round(1000 * cpu / args.repeat, 1)
                }
                print(f"  {name:28} {figures[name]}", flush=True)
        finally:
            server.stop()
    slow = [n for n, v in figures.items() if isinstance(v, dict) and v["p95_ms"] >= TARGET_P95_MS]
    figures["target_p95_ms"] = TARGET_P95_MS
    figures["pages_over_target"] = slow
    figures["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--conversations", type=int, default=100_000)
    parser.add_argument("--messages", type=int, default=3, help="messages per conversation")
    parser.add_argument("--repeat", type=int, default=30, help="timed requests per page")
    parser.add_argument(
        "--database-url",
        default=os.environ.get(
            "TSUNAGU_BENCH_DATABASE_URL",
            "postgresql+psycopg://postgres@127.0.0.1:5432/tsunagu_bench_inbox_list",
        ),
        help="EMPTIED on every run: a PostgreSQL URL, or sqlite:///<file>",
    )
    parser.add_argument("--results-dir", type=Path, default=REPO / "bench" / "results")
    args = parser.parse_args()
    report("inbox_list", run(args), args.results_dir)


if __name__ == "__main__":
    main()
