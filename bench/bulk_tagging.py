"""Bulk tagging benchmark: ``tsunagu tag add|remove --segment`` over N friends, timed.

``.venv/bin/python -m bench.bulk_tagging`` (``--help`` for the options) does, in one run:

1. drops and re-creates its own PostgreSQL database (``tsunagu_bench_tags``), migrates it,
   registers a shop and a channel, and loads N followed friends with ``COPY`` (not timed), and a
   segment of every follower;
2. **timed**: runs ``tsunagu tag add bench --segment followers`` as a shop's engineer would, in
   a process of its own (the segment resolved, then 1,000 friends per committed batch, each
   change kept in the friend's tag history);
3. **timed**: the same again (nothing to change: every friend already carries the tag);
4. **timed**: ``tsunagu tag remove bench --segment followers``;
   The CPU seconds of the ``tsunagu`` process (the hub's side; PostgreSQL's are not counted)
   are the steadier figure on a shared machine;
5. checks the counts (N tagged, N history rows per pass) and prints the figures, kept as JSON in
   ``bench/results/bulk-tagging-*.json``.

The issue's target is 100,000 friends tagged in under 30 s.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import func, select

from bench.fanout import REPO, SECRET_KEY, prepare, report


@dataclass
class Figures:
    load_average_1m: float
    friends: int
    add_seconds: float
    add_cpu_seconds: float
    add_again_seconds: float
    remove_seconds: float
    remove_cpu_seconds: float
    friends_per_second_added: float
    tagged_after_add: int
    history_rows: int
    within_target: bool


def _tsunagu(database_url: str, data_dir: str, *args: str) -> tuple[float, float]:
    """Run ``tsunagu *args``: its wall-clock seconds and its CPU seconds (user + system)."""
    env = os.environ | {
        "TSUNAGU_DATABASE_URL": database_url,
        "TSUNAGU_SECRET_KEY": SECRET_KEY,
        "TSUNAGU_DATA_DIR": data_dir,
        "TSUNAGU_LOG_LEVEL": "WARNING",
    }
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", "from tsunagu.cli import main; main()", *args],
        env=env,
        cwd=REPO,
        capture_output=True,
    )
    elapsed = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    print(done.stdout.decode().strip(), f"({elapsed:.1f} s, CPU {cpu:.1f} s)", flush=True)
    if done.returncode != 0:
        raise SystemExit(done.stderr.decode())
    return elapsed, cpu


def run(args: argparse.Namespace) -> Figures:
    from idlink.models import FriendTag, FriendTagEvent
    from messaging.segments import segments
    from messaging.segments.schemas import SegmentSpec

    database, shop_id, _ = prepare(args.database_url, friends=args.friends, name="tags")
    with database.session_scope() as session:
        spec = SegmentSpec.model_validate(
            {"name": "followers", "rules": {"friend_status": "followed"}}
        )
        segments.save(session, shop_id=shop_id, spec=spec, actor="bench")
    data_dir = tempfile.mkdtemp(prefix="tsunagu-bench-tags-")
    common = ("--shop", "bench", "--segment", "followers")
    add, add_cpu = _tsunagu(args.database_url, data_dir, "tag", "add", "bench", *common)
    with database.session_scope() as session:
        tagged = session.scalar(select(func.count()).select_from(FriendTag)) or 0
    again, _ = _tsunagu(args.database_url, data_dir, "tag", "add", "bench", *common)
    remove, remove_cpu = _tsunagu(args.database_url, data_dir, "tag", "remove", "bench", *common)
    with database.session_scope() as session:
        history = session.scalar(select(func.count()).select_from(FriendTagEvent)) or 0
    database.dispose()
    return Figures(
        load_average_1m=os.getloadavg()[0],
        friends=args.friends,
        add_seconds=round(add, 2),
        add_cpu_seconds=round(add_cpu, 2),
        add_again_seconds=round(again, 2),
        remove_seconds=round(remove, 2),
        remove_cpu_seconds=round(remove_cpu, 2),
        friends_per_second_added=round(args.friends / add),
        tagged_after_add=tagged,
        history_rows=history,
        within_target=add < 30 * args.friends / 100_000,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--friends", type=int, default=100_000)
    parser.add_argument(
        "--database-url",
        default=os.environ.get(
            "TSUNAGU_BENCH_DATABASE_URL",
            "postgresql+psycopg://postgres@127.0.0.1:5432/tsunagu_bench_tags",
        ),
    )
    figures: dict[str, Any] = asdict(run(parser.parse_args()))
    report("bulk-tagging", figures)


if __name__ == "__main__":
    main()
