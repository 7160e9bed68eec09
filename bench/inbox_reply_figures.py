"""The figures of one step of ``bench.inbox_replies``: each accepted message's way from the hub's
receipt to the answer at the sandbox LINE, and the CPU each process spent on it."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, select

from bench import payloads
from bench.fanout import user_id as friend
from bench.processes import Run, process_tree_cpu_seconds
from core.clock import as_utc
from core.inbox import InboundEvent

# Whole servers the machine shares with other work: their CPU is reported, not attributed.
SHARED = {"postgresql (whole server)": "postgres", "redis (whole server)": "redis-server"}


@dataclass(frozen=True, slots=True)
class Step:
    """One steady rate: friends ``first`` … ``first + count - 1`` write, one message each."""

    rate: float
    duration: int
    first: int
    count: int
    warmup: bool = False


def cpu_seconds(pids: dict[str, int], sandbox_pid: int) -> dict[str, float]:
    """CPU seconds used so far by the hub's processes, the sandbox and the shared servers."""
    used = {name: process_tree_cpu_seconds(pid) for name, pid in pids.items()}
    used["sandbox LINE"] = process_tree_cpu_seconds(sandbox_pid)
    for name, command in SHARED.items():
        used[name] = _command_cpu_seconds(command)
    return used


def _command_cpu_seconds(command: str) -> float:
    """CPU seconds of every process whose command name is ``command``: the live ones' own, and
    the exited children their top process reaped (PostgreSQL's ended connections)."""
    import os

    names: dict[int, str] = {}
    stats: dict[int, list[str]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        name, rest = stat.split("(", 1)[1].rsplit(")", 1)
        names[int(entry.name)] = name
        if name == command:
            stats[int(entry.name)] = rest.split()
    ticks = 0
    for fields in stats.values():
        # After the name: state, ppid, …; utime, stime, cutime and cstime are the 12th to 15th.
        ticks += int(fields[11]) + int(fields[12])
        if names.get(int(fields[1])) != command:
            ticks += int(fields[13]) + int(fields[14])
    return ticks / os.sysconf("SC_CLK_TCK")


def _percentiles(values: list[float]) -> dict[str, float]:
    """p50, p95, p99 and max of seconds, in milliseconds."""
    ordered = sorted(values)
    if not ordered:
        return {"p50": 0.0, "p95": 0.0, "p99": 0.0, "max": 0.0}

    def at(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(len(ordered) * q))] * 1000, 1)

    return {"p50": at(0.5), "p95": at(0.95), "p99": at(0.99), "max": round(ordered[-1] * 1000, 1)}


def _events(database_url: str, prefix: str) -> list[tuple[str, float, float | None]]:
    """(event id, received at, processed at) of the step's stored events, as Unix times."""
    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                select(
                    InboundEvent.dedup_key, InboundEvent.received_at, InboundEvent.processed_at
                ).where(InboundEvent.source == "line", InboundEvent.dedup_key.like(f"{prefix}%"))
            ).all()
    finally:
        engine.dispose()
    return [
        (key, as_utc(received).timestamp(), as_utc(done).timestamp() if done else None)
        for key, received, done in rows
    ]


def step_figures(
    step: Step,
    run: Run,
    prefix: str,
    answers: dict[str, list[tuple[float, str]]],
    *,
    database_url: str,
    window: tuple[float, float],
    cpu: dict[str, float],
    load: tuple[tuple[float, ...], tuple[float, ...]],
) -> dict[str, Any]:
    """The step's latency (receipt → answer, and its two stages), rates, checks and CPU."""
    sent = payloads.sent_event_ids(prefix, 2, run.raw["sent_per_part"])
    refused = {payloads.event_id(prefix, part + i * 2) for part, i in run.raw["refused"]}
    events = [e for e in _events(database_url, prefix) if e[0] in sent - refused]
    latency, processing, sending, endpoints = [], [], [], Counter[str]()
    unanswered = twice = 0
    for key, received, processed in events:
        got = answers.get(friend(step.first + int(key[len(prefix) :])), [])
        twice += len(got) > 1
        if not got:
            unanswered += 1
            continue
        at, endpoint = got[0]
        endpoints[endpoint] += 1
        latency.append(at - received)
        if processed is not None:
            processing.append(processed - received)
            sending.append(at - processed)
    accepted = len(sent - refused)
    first_receipt = min((e[1] for e in events), default=window[0])
    last_answer = max((a[0][0] for a in answers.values() if a), default=window[1])
    messages = max(1, len(latency))
    cpu_ms = {name: round(1000 * seconds / messages, 2) for name, seconds in cpu.items()}
    cpu_ms["load generator"] = round(10 * run.generator_cpu_percent * run.duration_s / messages, 2)
    figures = _percentiles(latency)
    return {
        "rate_target": step.rate,
        "intake_rate": run.rps,
        "answer_rate": round(len(latency) / max(1e-9, last_answer - first_receipt), 1),
        "sent": len(sent),
        "accepted": accepted,
        "stored": len(events),
        "answered": len(latency),
        "unanswered": unanswered,
        "answered_twice": twice,
        "endpoints": dict(endpoints),
        "latency_ms": figures,
        "receipt_to_processed_ms": _percentiles(processing),
        "processed_to_answer_ms": _percentiles(sending),
        "webhook_answer_ms": run.latency_ms,
        "cpu_ms_per_message": cpu_ms,
        "machine_cpu_percent_while_posting": run.machine_cpu_percent,
        "load_average": [round(x, 2) for x in load[0]],
        "load_average_after": [round(x, 2) for x in load[1]],
        "ok": figures["p99"] < 1000
        and unanswered == 0
        and twice == 0
        and len(events) == accepted
        and run.rps >= 0.95 * step.rate,
    }
