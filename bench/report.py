"""The benchmark's report: a Rich table on the console and a JSON file in ``bench/results/``."""

from __future__ import annotations

import json
import os
import platform
import re
import statistics
import sys
from dataclasses import asdict
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.table import Table

from bench.processes import REPO, Run

if TYPE_CHECKING:
    from bench.webhook_intake import Options, Verification

# Each mode's targets (hub / bare rate, hub p99): intake only, and production with its broker.
TARGETS: dict[str, tuple[float, float]] = {"intake": (0.40, 50.0), "broker": (0.50, 25.0)}
PACKAGES = ("uvicorn", "fastapi", "starlette", "sqlalchemy", "psycopg", "uvloop", "httptools")


def aggregate(runs: list[Run]) -> dict[str, Any]:
    """All rounds of one server: total rate, median p50/p99 across rounds, worst p99 and max."""
    seconds = sum(r.duration_s for r in runs)
    requests = sum(r.requests for r in runs)
    server_cpu_us = sum(r.server_cpu_us * r.requests for r in runs) / requests if requests else 0.0
    return {
        "requests": sum(r.requests for r in runs),
        "rps": round(sum(r.requests for r in runs) / seconds, 1) if seconds else 0.0,
        "p50_ms": statistics.median(r.latency_ms["p50"] for r in runs),
        "p99_ms": statistics.median(r.latency_ms["p99"] for r in runs),
        "p99_worst_ms": max(r.latency_ms["p99"] for r in runs),
        "max_ms": max(r.latency_ms["max"] for r in runs),
        "errors": sum(r.error_count for r in runs),
        "generator_cpu_percent": round(statistics.mean(r.generator_cpu_percent for r in runs), 1),
        "machine_cpu_percent": round(statistics.mean(r.machine_cpu_percent for r in runs), 1),
        "server_cpu_us": round(server_cpu_us, 1),
        "exhausted": any(r.exhausted for r in runs),
    }


def write(
    console: Console,
    options: Options,
    hub_runs: list[Run],
    bare_runs: list[Run],
    ceiling: Run | None,
    check: Verification,
    load_at_start: tuple[float, float, float],
) -> Path:
    """Print the table and verdicts; write the JSON record and return its path."""
    hub, bare = aggregate(hub_runs), aggregate(bare_runs)
    load_at_end = os.getloadavg()
    ratio = hub["rps"] / bare["rps"] if bare["rps"] else 0.0
    console.print(_table(options, hub_runs, bare_runs, hub, bare, ceiling))
    target_ratio, target_p99_ms = TARGETS[options.hub_mode]
    ratio_met, p99_met = ratio >= target_ratio, hub["p99_ms"] < target_p99_ms
    console.print(
        f"hub / bare: [bold]{ratio:.1%}[/bold] (target ≥ {target_ratio:.0%}: "
        f"{_verdict(ratio_met)}); hub p99 {hub['p99_ms']:.1f} ms, median of rounds "
        f"(target < {target_p99_ms:.0f} ms: {_verdict(p99_met)}; worst round "
        f"{hub['p99_worst_ms']:.1f} ms)"
    )
    cpu_ratio = bare["server_cpu_us"] / hub["server_cpu_us"] if hub["server_cpu_us"] else 0.0
    console.print(
        f"server CPU per request: hub {hub['server_cpu_us']:,.0f} µs, bare "
        f"{bare['server_cpu_us']:,.0f} µs (bare / hub {cpu_ratio:.1%}; the database's is not "
        f"counted); load average (1/5/15 min) {_load(load_at_start)} at the start, "
        f"{_load(load_at_end)} at the end"
    )
    missing = "n/a" if check.accepted_but_missing is None else str(check.accepted_but_missing)
    nudges = (
        ""
        if check.nudges_enqueued is None
        else (
            f"; {check.nudges_enqueued:,} nudges for {check.events_nudged:,} events of "
            f"{check.rows_total:,} rows, {check.events_nudged_twice} nudged twice"
        )
    )
    console.print(
        f"stored {check.stored:,} events for {check.accepted:,} accepted ({check.sent:,} sent); "
        f"stored twice {check.duplicates}, never sent {check.stored_but_never_sent}, "
        f"accepted but missing {missing}{nudges}: "
        + ("[green]OK[/green]" if check.ok else "[red]FAILED[/red]")
    )
    for name, figures in (("hub", hub), ("bare", bare)):
        if figures["exhausted"]:
            console.print(
                f"[yellow]{name} ran out of pre-signed requests in a round: its rate is "
                "understated; raise --max-requests[/yellow]"
            )
    started = datetime.now(UTC)
    record = {
        "benchmark": "webhook_intake",
        "at": started.isoformat(timespec="seconds"),
        "command": " ".join([".venv/bin/python", "-m", "bench.webhook_intake", *sys.argv[1:]]),
        "options": json.loads(json.dumps(asdict(options), default=str)),
        "machine": machine(),
        "hub": {**hub, "rounds": [r.summary() for r in hub_runs]},
        "bare": {**bare, "rounds": [r.summary() for r in bare_runs]},
        "generator_ceiling": ceiling.summary() if ceiling else None,
        "ratio": round(ratio, 4),
        "server_cpu_ratio": round(cpu_ratio, 4),
        "load_average": {"start": load_at_start, "end": load_at_end},
        "target": {"ratio": target_ratio, "p99_ms": target_p99_ms},
        "target_met": ratio_met and p99_met,
        "verification": {**asdict(check), "ok": check.ok},
    }
    path = options.results_dir / f"webhook-intake-{started:%Y%m%dT%H%M%S}.json"
    path.write_text(json.dumps(record, indent=2, ensure_ascii=False) + "\n")
    return path.relative_to(REPO) if path.is_relative_to(REPO) else path


def _table(
    options: Options,
    hub_runs: list[Run],
    bare_runs: list[Run],
    hub: dict[str, Any],
    bare: dict[str, Any],
    ceiling: Run | None,
) -> Table:
    server, generator = options.server, options.generator
    table = Table(
        title=f"Webhook intake ({options.hub_mode}): {generator.connections} connections, "
        f"{options.rounds} x {options.duration} s, {server.workers} worker(s), "
        f"{server.loop}/{server.http}, {generator.kind}",
    )
    table.add_column("run")
    columns = ("req/s", "p50 ms", "p99 ms", "max ms", "errors", "gen CPU", "busy", "µs/req")
    for column in columns:
        table.add_column(column, justify="right")
    for number, (h, b) in enumerate(zip(hub_runs, bare_runs, strict=True), start=1):
        for run in (h, b):
            table.add_row(f"{run.name} #{number}", *_cells(run.rps, run.latency_ms, run))
    table.add_section()
    for name, figures in (("hub", hub), ("bare", bare)):
        table.add_row(
            f"[bold]{name}[/bold]",
            f"[bold]{figures['rps']:,.0f}[/bold]",
            f"{figures['p50_ms']:.2f}",
            f"[bold]{figures['p99_ms']:.2f}[/bold]",
            f"{figures['max_ms']:.2f}",
            str(figures["errors"]),
            f"{figures['generator_cpu_percent']:.0f} %",
            f"{figures['machine_cpu_percent']:.0f} %",
            f"{figures['server_cpu_us']:,.0f}",
        )
    if ceiling is not None:
        table.add_section()
        table.add_row("ceiling", *_cells(ceiling.rps, ceiling.latency_ms, ceiling))
    return table


def _cells(rps: float, latency: dict[str, float], run: Run) -> list[str]:
    return [
        f"{rps:,.0f}",
        f"{latency['p50']:.2f}",
        f"{latency['p99']:.2f}",
        f"{latency['max']:.2f}",
        str(run.error_count),
        f"{run.generator_cpu_percent:.0f} %",
        f"{run.machine_cpu_percent:.0f} %",
        f"{run.server_cpu_us:,.0f}",
    ]


def _load(averages: tuple[float, float, float]) -> str:
    return " ".join(f"{a:.2f}" for a in averages)


def _verdict(met: bool) -> str:
    return "[green]met[/green]" if met else "[red]NOT met[/red]"


def machine() -> dict[str, Any]:
    """CPU, Python and the versions of the packages on the request path."""
    model = ""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        found = re.search(r"^model name\s*:\s*(.*)$", cpuinfo.read_text(), re.MULTILINE)
        model = found.group(1) if found else ""
    versions: dict[str, str | None] = {}
    for package in PACKAGES:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    return {
        "cpus": os.cpu_count(),
        "cpu_model": model,
        "load_average": os.getloadavg(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "packages": versions,
    }
