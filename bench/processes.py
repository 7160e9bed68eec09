"""The benchmark's processes: uvicorn servers and load-generator runs, with their CPU cost."""

from __future__ import annotations

import json
import os
import re
import resource
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from core.serving import free_port

HOST = "127.0.0.1"
REPO = Path(__file__).resolve().parents[1]
LUA_SCRIPT = Path(__file__).with_name("intake.lua")


@dataclass(frozen=True, slots=True)
class ServerSettings:
    """What both servers share: uvicorn's worker count, event loop and HTTP parser."""

    workers: int
    loop: str
    http: str


@dataclass(frozen=True, slots=True)
class Generator:
    """The load generator and its shape: wrk or the Python client, threads and connections."""

    kind: str
    threads: int
    connections: int
    # Requests per second in all, paced (the Python client only); None: as fast as answered.
    rate: float | None = None


class Server:
    """A uvicorn process serving one of ``bench.apps``' factories on a free port."""

    def __init__(
        self, factory: str, settings: ServerSettings, env: dict[str, str], log: Path
    ) -> None:
        self.port = free_port(HOST)
        self.log = log
        command = [
            *(sys.executable, "-m", "uvicorn", f"bench.apps:{factory}", "--factory"),
            *("--host", HOST, "--port", str(self.port), "--workers", str(settings.workers)),
            *("--loop", settings.loop, "--http", settings.http, "--backlog", "2048"),
            *("--no-access-log", "--log-level", "warning"),
        ]
        with log.open("wb") as handle:
            self.process = subprocess.Popen(
                command, cwd=REPO, env=env, stdout=handle, stderr=subprocess.STDOUT
            )

    def wait_ready(self, path: str = "/healthz", timeout: float = 300.0) -> None:
        """Wait until the server answers HTTP (any status below 500)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited with {self.process.returncode}: see {self.log}")
            try:
                if httpx.get(f"http://{HOST}:{self.port}{path}", timeout=2).status_code < 500:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"server did not become ready in {timeout:.0f} s: see {self.log}")

    def stop(self) -> None:
        """Ask the server to shut down gracefully; kill it if it has not within 20 s."""
        stop_process(self.process)


def stop_process(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@dataclass(slots=True)
class Run:
    """One load-generator run against one server."""

    name: str
    requests: int
    duration_s: float
    rps: float
    latency_ms: dict[str, float]
    errors: dict[str, int]
    generator_cpu_percent: float
    machine_cpu_percent: float
    server_cpu_us: float
    exhausted: bool
    sent: int
    raw: dict[str, Any] = field(repr=False)

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())

    def summary(self) -> dict[str, Any]:
        """The run's figures without the generator's raw record."""
        return {
            "requests": self.requests,
            "duration_s": self.duration_s,
            "rps": self.rps,
            "latency_ms": self.latency_ms,
            "errors": self.errors,
            "generator_cpu_percent": self.generator_cpu_percent,
            "machine_cpu_percent": self.machine_cpu_percent,
            "server_cpu_us": self.server_cpu_us,
            "exhausted": self.exhausted,
        }


def generator_command(
    generator: Generator, port: int, files_prefix: Path, duration: int, *, cycle: bool
) -> list[str]:
    """The command line that replays ``files_prefix``'s requests at ``port`` for ``duration``."""
    if generator.kind == "wrk":
        if generator.rate is not None:
            raise ValueError("wrk cannot pace its requests: use the Python client for a rate")
        return [
            *("wrk", "-t", str(generator.threads), "-c", str(generator.connections)),
            *("-d", f"{duration}s", "--timeout", "10s", "-s", str(LUA_SCRIPT)),
            *(f"http://{HOST}:{port}/", "--", str(files_prefix), "cycle" if cycle else "once"),
        ]
    command = [
        *(sys.executable, "-m", "bench.loadgen", str(files_prefix), "--port", str(port)),
        *("--parts", str(generator.threads), "--connections", str(generator.connections)),
        *("--duration", str(duration)),
    ]
    if generator.rate is not None:
        command += ["--rate", str(generator.rate)]
    return [*command, "--cycle"] if cycle else command


def drive(
    name: str,
    generator: Generator,
    port: int,
    files_prefix: Path,
    duration: int,
    *,
    server_pid: int,
    cycle: bool = False,
) -> Run:
    """Run the load generator once; return its figures, its CPU cost, the server's CPU per
    request and the machine's load."""
    command = generator_command(generator, port, files_prefix, duration, cycle=cycle)
    cpu_before = _children_cpu_seconds()
    server_before = process_tree_cpu_seconds(server_pid)
    busy_before, total_before = _machine_ticks()
    completed = subprocess.run(
        command, cwd=REPO, capture_output=True, text=True, timeout=duration + 120, check=False
    )
    busy_after, total_after = _machine_ticks()
    server_cpu = process_tree_cpu_seconds(server_pid) - server_before
    cpu = _children_cpu_seconds() - cpu_before
    match = re.search(r"^@@RESULT (.*)$", completed.stdout, re.MULTILINE)
    if completed.returncode != 0 or match is None:
        raise RuntimeError(
            f"load generator failed ({completed.returncode}): {completed.stderr[-2000:]}"
        )
    raw = json.loads(match.group(1))
    seconds = raw["duration_us"] / 1_000_000
    return Run(
        name=name,
        requests=raw["requests"],
        duration_s=round(seconds, 3),
        rps=round(raw["requests"] / seconds, 1),
        latency_ms={k: round(v / 1000, 2) for k, v in raw["latency_us"].items()},
        errors=raw["errors"],
        generator_cpu_percent=round(100 * cpu / seconds, 1),
        machine_cpu_percent=round(
            100 * (busy_after - busy_before) / max(1, total_after - total_before), 1
        ),
        server_cpu_us=round(1_000_000 * server_cpu / max(1, raw["requests"]), 1),
        exhausted=raw["exhausted"],
        sent=sum(raw["sent_per_part"]),
        raw=raw,
    )


def canned_server(port: int, log: Path) -> subprocess.Popen[bytes]:
    """Start ``bench.apps``' canned-response server and wait until it answers."""
    with log.open("wb") as handle:
        process = subprocess.Popen(
            [sys.executable, "-m", "bench.apps", str(port)],
            cwd=REPO,
            stdout=handle,
            stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            httpx.post(f"http://{HOST}:{port}/", content=b"{}", timeout=2)
            return process
        except httpx.HTTPError:
            time.sleep(0.1)
    stop_process(process)
    raise RuntimeError(f"the canned-response server did not start: see {log}")


def _machine_ticks() -> tuple[int, int]:
    """(busy, total) CPU ticks of the whole machine since boot, from ``/proc/stat``."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]
    return sum(fields) - idle, sum(fields)


def process_tree_cpu_seconds(pid: int) -> float:
    """CPU time (user + system) used so far by a process and its live descendants (uvicorn's
    workers), from ``/proc``."""
    ticks: dict[int, int] = {}
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # After the command name: state, ppid, …; utime and stime are the 12th and 13th.
        fields = stat.rsplit(")", 1)[1].split()
        ticks[int(entry.name)] = int(fields[11]) + int(fields[12])
        children.setdefault(int(fields[1]), []).append(int(entry.name))
    total, pending = 0, [pid]
    while pending:
        current = pending.pop()
        total += ticks.get(current, 0)
        pending.extend(children.get(current, []))
    return total / os.sysconf("SC_CLK_TCK")


def _children_cpu_seconds() -> float:
    # Only the generator is reaped between two readings, so the difference is its CPU time.
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime
