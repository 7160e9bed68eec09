"""The inbox benchmarks run end to end at a tiny size and their figures say what happened:
every page answered, every console told, every message answered exactly once at the rate asked.
They are smoke tests of the benchmarks, not measurements (the figures here mean nothing)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import make_url

from bench.processes import REPO
from core.serving import free_port
from tests.conftest import skip_or_fail

TIMEOUT_SECONDS = 600
# A bench starts its own servers and migrates its own database: minutes on a busy machine.
pytestmark = pytest.mark.timeout(TIMEOUT_SECONDS + 60)


def run_bench(module: str, tmp_path: Path, *options: str) -> dict[str, Any]:
    """Run ``python -m <module>`` with ``options``; the figures it wrote."""
    results = tmp_path / "results"
    env = {k: v for k, v in os.environ.items() if not k.startswith("TSUNAGU_")}
    completed = subprocess.run(
        [sys.executable, "-m", module, *options, "--results-dir", str(results)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_SECONDS,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    (written,) = results.glob("*.json")
    return dict(json.loads(written.read_text()))


def bench_database(suffix: str) -> str:
    """A PostgreSQL database of the bench's own, beside the tests' (emptied by the bench)."""
    url = os.environ.get("TSUNAGU_TEST_DATABASE_URL", "")
    if not url.startswith("postgresql"):
        skip_or_fail("this benchmark runs on PostgreSQL: set TSUNAGU_TEST_DATABASE_URL")
    parsed = make_url(url)
    return parsed.set(database=f"{parsed.database}_{suffix}").render_as_string(False)


def test_the_inbox_list_bench_times_every_page_and_lists_each_pages_statements(
    tmp_path: Path,
) -> None:
    figures = run_bench(
        "bench.inbox_list",
        tmp_path,
        *("--conversations", "300", "--repeat", "2"),
        *("--database-url", f"sqlite:///{tmp_path / 'inbox.db'}"),
    )

    assert figures["backend"] == "sqlite"
    assert figures["conversations"] == 300
    assert figures["messages"] == 900
    pages = {name: value for name, value in figures.items() if isinstance(value, dict)}
    assert {"all", "mine", "unassigned", "all_mark", "search_nobody_wrote"} <= set(pages)
    for page in pages.values():
        assert 0 < page["p50_ms"] <= page["p95_ms"] <= page["max_ms"]

    # The statements of each page, against the database the bench left loaded.
    command = [sys.executable, "-m", "bench.inbox_list_statements", "--repeat", "1"]
    listed = subprocess.run(
        [*command, "--database-url", f"sqlite:///{tmp_path / 'inbox.db'}"],
        cwd=REPO,
        env={k: v for k, v in os.environ.items() if not k.startswith("TSUNAGU_")},
        capture_output=True,
        text=True,
        timeout=TIMEOUT_SECONDS,
        check=False,
    )
    assert listed.returncode == 0, listed.stdout[-3000:] + listed.stderr[-3000:]
    statements = dict(re.findall(r"^== (\w+): (\d+) statements", listed.stdout, re.MULTILINE))
    assert set(statements) == set(pages)
    assert all(int(count) >= 5 for count in statements.values()), statements


@pytest.mark.services
def test_the_live_bench_sees_every_message_reach_every_console(tmp_path: Path) -> None:
    figures = run_bench(
        "bench.inbox_live",
        tmp_path,
        *("--consoles", "4", "--messages", "3", "--gap", "0.1"),
        *("--database-url", bench_database("bench_live")),
    )

    assert figures["missed"] == 0
    assert figures["processes"] == 2
    for process in ("process_1", "process_2"):
        assert 0 < figures[process]["p50_ms"] <= figures[process]["max_ms"] < 10_000


@pytest.mark.services
@pytest.mark.parametrize("mode", ["broker", "embedded"])
def test_the_auto_reply_bench_answers_every_message_once_at_the_rate_asked(
    tmp_path: Path, mode: str
) -> None:
    broker = os.environ.get("TSUNAGU_TEST_BROKER_URL", "")
    if mode == "broker" and not broker.startswith("redis://"):
        skip_or_fail("the broker mode needs Redis: set TSUNAGU_TEST_BROKER_URL")
    figures = run_bench(
        "bench.inbox_replies",
        tmp_path,
        *("--hub-mode", mode, "--rates", "8", "--duration", "3"),
        *("--warmup", "1", "--warmup-rate", "4", "--profile", "10", "--drain", "240"),
        *("--sandbox-port", str(free_port("127.0.0.1"))),
        *("--database-url", bench_database("bench_replies")),
        *(("--broker-url", broker) if mode == "broker" else ()),
    )

    (step,) = figures["steps"]
    assert step["accepted"] == step["sent"] == step["stored"] == step["answered"] > 0
    assert step["unanswered"] == step["answered_twice"] == 0
    # Paced: never faster than asked (unpaced, the generator would send hundreds a second).
    assert 4 <= step["intake_rate"] <= 9
    assert 0 < step["latency_ms"]["p50"] <= step["latency_ms"]["max"]
    assert figures["profile"]["messages"] == 10
    assert figures["profile"]["processing_statements_per_message"] > 0
