"""CPU-time profiles of the benches, summed by where the code lives."""

from __future__ import annotations

import os
import pstats
from collections import defaultdict
from typing import Any

# Where a function's file lives -> the part of the call it counts under (first match wins).
PARTS = (
    ("linebot/v3/messaging/models/", "SDK request/response models"),
    ("linebot/v3/messaging/api/", "SDK API method (validate_arguments, parameters)"),
    ("linebot/v3/messaging/api_client", "SDK ApiClient (headers, sanitize, response)"),
    ("linebot/v3/messaging/rest", "SDK REST client"),
    ("linebot/", "SDK, other"),
    ("pydantic/", "pydantic (the SDK's validation)"),
    ("urllib3/", "urllib3 (pool, request, response)"),
    ("http/client", "http.client"),
    ("email/", "email (http.client's header parsing)"),
    ("json/", "json"),
    ("socket.py", "socket"),
    ("connectors/", "hub: connectors.line"),
    ("messaging/", "hub: messaging (claims, recording, limiter)"),
    ("core/", "hub: core"),
    ("sqlalchemy/", "SQLAlchemy"),
    ("psycopg", "psycopg"),
    ("redis/", "redis"),
    ("logging/", "logging"),
    ("threading.py", "threading"),
    ("uuid.py", "uuid"),
    ("bench/", "bench loop"),
)


def part_of(filename: str, first: tuple[tuple[str, str], ...] = ()) -> str:
    """The part a function's file counts under: ``first``'s markers, then ``PARTS``."""
    if filename.startswith("~") or filename == "<built-in>":
        return "built-ins and C (socket calls, dict, str)"
    for marker, part in (*first, *PARTS):
        if marker in filename:
            return part
    return "other Python"


def summarise(
    profile: pstats.Stats,
    pushes: int,
    top: int,
    *,
    parts: tuple[tuple[str, str], ...] = (),
    per: str = "push",
) -> dict[str, Any]:
    """The profile's own time (tottime) by part (``parts``' markers first), and the functions
    that cost the most; per ``per`` (``pushes`` of them were profiled)."""
    stats: dict[tuple[str, int, str], tuple[Any, ...]] = profile.stats  # type: ignore[attr-defined]
    total = sum(row[2] for row in stats.values()) or 1.0
    by_part: dict[str, float] = defaultdict(float)
    for (filename, _line, _name), row in stats.items():
        by_part[part_of(filename, parts)] += row[2]
    shares = {
        part: {"percent": round(100 * seconds / total, 1), "us": seconds / pushes * 1e6}
        for part, seconds in sorted(by_part.items(), key=lambda item: -item[1])
    }
    functions = sorted(stats.items(), key=lambda item: -item[1][2])[:top]
    return {
        f"cpu_us_per_{per}": round(total / pushes * 1e6, 1),
        "parts": {
            p: {"percent": v["percent"], f"us_per_{per}": round(v["us"], 1)}
            for p, v in shares.items()
        },
        "top_functions": [
            {
                "function": f"{os.path.basename(filename)}:{line}({name})",
                "percent_own": round(100 * row[2] / total, 1),
                "percent_cumulative": round(100 * row[3] / total, 1),
                f"calls_per_{per}": round(row[1] / pushes, 2),
            }
            for (filename, line, name), row in functions
        ],
    }


def print_parts(summary: dict[str, Any]) -> None:
    """A profile summary (``summarise``) as two tables."""
    print(f"profile, own CPU time by part ({summary['cpu_us_per_push']} µs per push, profiled)")
    for part, row in summary["parts"].items():
        print(f"  {row['percent']:5.1f} %  {part}")
    print("functions by own CPU time (% own, % with callees, calls per push)")
    for row in summary["top_functions"]:
        print(
            f"  {row['percent_own']:5.1f} %  {row['percent_cumulative']:5.1f} %"
            f"  {row['calls_per_push']:6.2f}  {row['function']}"
        )
