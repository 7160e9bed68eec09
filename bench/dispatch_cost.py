"""Hub CPU per push spent by the dispatcher's own database work: claiming and recording.

``.venv/bin/python -m bench.dispatch_cost`` (``--help`` for the options) does, in one run:

1. drops and re-creates its own PostgreSQL database (``tsunagu_bench_dispatch_cost``), loads
   ``--pushes`` followed friends and plans one personalised reminder each, due now, as the
   reminder bench does (not timed);
2. imports what a worker process has imported and settles the heap as ``tsunagu worker``
   does before its processes start (``--unsettled``: not, as before it did);
3. **timed by this process's CPU**: claims the due reminders as the dispatcher does
   (``claims.claim``: 2,000 per claim, guardrails, batches, recipients and contents loaded)
   and records LINE's answers a group of 200 at a time (``outcomes.record_all``), each answer
   an acceptance with its own request id. No request is sent: ``bench.push_cost`` measures
   the SDK's call, this bench what the dispatcher adds to it;
4. checks that every reminder is ``sent`` with its request id, prints the CPU per push, for
   claiming and for recording, and writes the figures to ``bench/results/``.

``--profile`` runs step 3 under ``cProfile`` timed by the process's CPU and sums it by part
(its figures are then the profiler's, inflated).
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from bench.fanout import prepare, report
from bench.profiles import print_parts, summarise
from bench.reminders import SOURCE, plan_reminders


def run(args: argparse.Namespace) -> dict[str, Any]:
    from connectors.line.sending import Accepted
    from jobs import tasks  # noqa: F401  (what a worker process has imported when it starts)
    from messaging.outbox import service
    from messaging.outbox.claims import DispatchConfig, claim
    from messaging.outbox.dispatcher import RECORD_GROUP
    from messaging.outbox.outcomes import Try, record_all
    from tsunagu.hub import settle_heap

    database, _shop_id, channel_pk = prepare(
        args.database_url, friends=args.pushes, name="dispatch_cost"
    )
    due = datetime.now(UTC) - timedelta(seconds=1)
    print(f"planning {args.pushes:,} reminders …", flush=True)
    plan_reminders(database, channel_pk, due, 10_000)
    with database.engine.begin() as connection:
        connection.exec_driver_sql("ANALYZE")
    if not args.unsettled:
        settle_heap()
    config = DispatchConfig(api_url="http://127.0.0.1:9")
    profile = cProfile.Profile(time.process_time) if args.profile else None
    claiming = recording = 0.0
    pushes = 0
    if profile is not None:
        profile.enable()
    while True:
        started = time.process_time()
        jobs = claim(database, config=config)
        claiming += time.process_time() - started
        if not jobs:
            break
        for first in range(0, len(jobs), RECORD_GROUP):
            group = jobs[first : first + RECORD_GROUP]
            now = datetime.now(UTC)
            tries = [Try(job, Accepted(200, str(uuid.uuid4())), now, 5) for job in group]
            started = time.process_time()
            with database.session_scope() as session:
                record_all(session, tries, config=config)
            recording += time.process_time() - started
            pushes += len(group)
    if profile is not None:
        profile.disable()
    with database.session_scope() as session:
        sent = service.counts_by_state(session, source=SOURCE).get("sent", 0)
    database.dispose()
    if sent != args.pushes or pushes != args.pushes:
        raise SystemExit(f"{sent} of {args.pushes} reminders sent in {pushes} pushes")
    figures: dict[str, Any] = {
        "load_average_1m": os.getloadavg()[0],
        "pushes": pushes,
        "heap_settled": not args.unsettled,
        "profiled": args.profile,
        "cpu_us_per_push": round((claiming + recording) / pushes * 1e6, 1),
        "claim_cpu_us_per_push": round(claiming / pushes * 1e6, 1),
        "record_cpu_us_per_push": round(recording / pushes * 1e6, 1),
    }
    if profile is not None:
        figures["profile"] = summarise(pstats.Stats(profile), pushes, args.top)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pushes", type=int, default=20_000)
    parser.add_argument(
        "--database-url",
        default=os.environ.get(
            "TSUNAGU_BENCH_DISPATCH_COST_DATABASE_URL",
            "postgresql+psycopg://postgres@127.0.0.1:5432/tsunagu_bench_dispatch_cost",
        ),
    )
    parser.add_argument(
        "--unsettled", action="store_true", help="leave the heap unsettled (as before)"
    )
    parser.add_argument("--profile", action="store_true", help="under cProfile (inflated)")
    parser.add_argument("--top", type=int, default=20, help="functions listed from the profile")
    figures = run(parser.parse_args())
    summary = figures.pop("profile", None)
    report("dispatch_cost", figures)
    if summary is not None:
        print()
        print_parts(summary)


if __name__ == "__main__":
    main()
