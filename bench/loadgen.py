"""A lean asyncio load generator: the fallback when ``wrk`` is not installed.

``python -m bench.loadgen <files prefix> --parts P --connections C --duration D``

It replays the pre-signed request files like ``bench/intake.lua`` does (connection ``c`` takes
its requests from file ``c % P``, each request once), keeps one request in flight per
connection (HTTP/1.1 keep-alive), and prints the same ``@@RESULT`` JSON as the wrk script,
plus which requests were not answered 2xx, so every accepted event can be checked one by one.
It runs on uvloop when installed. In pure Python it costs far more CPU per request than wrk.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import cast

from bench.payloads import read_request_file


@dataclass(slots=True)
class Part:
    """One request file and how far the connections reading it have got."""

    requests: list[bytes]
    cycle: bool = False
    sent: int = 0

    def take(self) -> int | None:
        if self.sent >= len(self.requests):
            if not self.cycle:
                return None
            self.sent = 0
        self.sent += 1
        return self.sent - 1


@dataclass(slots=True)
class Pacer:
    """Spaces the requests of every connection ``1 / rate`` seconds apart: an open-loop
    schedule, as a platform sending webhooks at a steady rate would. A free connection takes
    the next slot, however far ahead: keep the connections few enough for the rate (a server
    closes a connection idle past its keep-alive timeout, uvicorn's after 5 s)."""

    rate: float
    began: float = field(default_factory=time.monotonic)
    count: int = 0

    def wait(self) -> float:
        """Seconds until the next request is due (negative: late)."""
        due = self.began + self.count / self.rate
        self.count += 1
        return due - time.monotonic()


@dataclass(slots=True)
class Tally:
    latencies_ns: list[int] = field(default_factory=list)
    bytes: int = 0
    status_errors: int = 0
    read_errors: int = 0
    refused: list[tuple[int, int]] = field(default_factory=list)
    exhausted: bool = False


class Connection(asyncio.Protocol):
    """One keep-alive connection: send a request, read its response, send the next."""

    def __init__(
        self, number: int, part: Part, tally: Tally, deadline: float, pacer: Pacer | None = None
    ) -> None:
        self.part_number = number
        self.part = part
        self.tally = tally
        self.deadline = deadline
        self.pacer = pacer
        self.buffer = b""
        self.in_flight: int | None = None
        self.started = 0
        self.finished: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        self.send_next()

    def send_next(self) -> None:
        index = None if time.monotonic() >= self.deadline else self.part.take()
        if index is None:
            self.tally.exhausted |= self.part.sent >= len(self.part.requests)
            self.in_flight = None
            self.transport.close()
            return
        self.in_flight = index
        wait = 0.0 if self.pacer is None else self.pacer.wait()
        if wait > 0:
            asyncio.get_running_loop().call_later(wait, self.write, index)
        else:
            self.write(index)

    def write(self, index: int) -> None:
        if self.transport.is_closing():
            return
        self.started = time.perf_counter_ns()
        self.transport.write(self.part.requests[index])

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0:
            return
        head = self.buffer[:end].lower()
        start = head.find(b"content-length:")
        length = 0 if start < 0 else int(head[start + 15 :].split(b"\r\n", 1)[0])
        if len(self.buffer) < end + 4 + length:
            return
        self.tally.latencies_ns.append(time.perf_counter_ns() - self.started)
        self.tally.bytes += end + 4 + length
        status = int(head[9:12])
        if not 200 <= status < 300:
            self.tally.status_errors += int(status > 399)
            self.tally.refused.append((self.part_number, cast(int, self.in_flight)))
        self.buffer = self.buffer[end + 4 + length :]
        self.send_next()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.in_flight is not None:
            self.tally.read_errors += 1
            self.tally.refused.append((self.part_number, self.in_flight))
        if not self.finished.done():
            self.finished.set_result(None)


def percentile(sorted_values: list[int], q: float) -> int:
    """The ``q``-th percentile (nearest rank) of sorted values."""
    if not sorted_values:
        return 0
    rank = max(0, min(len(sorted_values) - 1, round(q / 100 * len(sorted_values)) - 1))
    return sorted_values[rank]


async def run(
    host: str,
    port: int,
    prefix: str,
    *,
    parts: int,
    connections: int,
    duration: float,
    cycle: bool = False,
    rate: float | None = None,
) -> dict[str, object]:
    """Drive ``connections`` connections for ``duration`` seconds (paced to ``rate`` requests
    per second in all, if given); return the result record."""
    loop = asyncio.get_running_loop()
    files = [Part(read_request_file(Path(f"{prefix}.{i}")), cycle) for i in range(parts)]
    tally = Tally()
    began = time.perf_counter()
    deadline = time.monotonic() + duration
    protocols: list[Connection] = []
    pacer = None if rate is None else Pacer(rate)
    connect_errors = 0
    for c in range(connections):
        number = c % parts
        try:
            _, protocol = await loop.create_connection(
                partial(Connection, number, files[number], tally, deadline, pacer), host, port
            )
        except OSError:
            connect_errors += 1
            continue
        protocols.append(protocol)
    await asyncio.gather(*(p.finished for p in protocols))
    elapsed = time.perf_counter() - began
    latencies = sorted(tally.latencies_ns)
    us = 1000
    return {
        "duration_us": int(elapsed * 1_000_000),
        "requests": len(latencies),
        "bytes": tally.bytes,
        "errors": {
            "connect": connect_errors,
            "read": tally.read_errors,
            "write": 0,
            "status": tally.status_errors,
            "timeout": 0,
        },
        "latency_us": {
            "min": latencies[0] // us if latencies else 0,
            "mean": round(sum(latencies) / len(latencies) / us, 1) if latencies else 0.0,
            "p50": percentile(latencies, 50) // us,
            "p90": percentile(latencies, 90) // us,
            "p99": percentile(latencies, 99) // us,
            "p999": percentile(latencies, 99.9) // us,
            "max": latencies[-1] // us if latencies else 0,
        },
        "sent_per_part": [f.sent for f in files],
        "exhausted": tally.exhausted,
        "refused": tally.refused,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("prefix", help="request files prefix (files are <prefix>.<i>)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--parts", type=int, default=1)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--cycle", action="store_true", help="start over when a file runs out")
    parser.add_argument("--rate", type=float, help="requests per second in all (paced)")
    args = parser.parse_args()
    if args.host != "127.0.0.1":
        parser.error("the benchmark only sends traffic to 127.0.0.1")
    coroutine = run(
        args.host,
        args.port,
        args.prefix,
        parts=args.parts,
        connections=args.connections,
        duration=args.duration,
        cycle=args.cycle,
        rate=args.rate,
    )
    try:
        import uvloop
    except ImportError:
        result = asyncio.run(coroutine)
    else:
        result = uvloop.run(coroutine)
    print("@@RESULT " + json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
