"""Hub CPU per push: ``LineSender.push`` alone, and where its time goes.

``.venv/bin/python -m bench.push_cost`` (``--help`` for the options) does, in one run:

1. starts the sandbox LINE platform in a process of its own (127.0.0.1 only, as the reminder
   bench does), with ``--pushes`` users following the bench channel;
2. warms one sender up (its connection pool, the SDK's lazy imports), then sends ``--pushes``
   personalised reminders (one text each, its own booking number) through
   ``connectors.line.sending.LineSender.push`` on one thread, one after another, paced under
   LINE's 2,000 pushes/s; the thread's own CPU (``time.thread_time``) around each call is the
   figure, so the sandbox's CPU is not in it, the kernel's work for our socket is;
3. sends the same number again under ``cProfile`` timed by the thread's CPU, and sums the
   profile by where the code lives: the SDK's request models, its API call and client,
   urllib3, ``http.client`` and the ``email`` header parser, ``json``, the socket, the hub;
4. prints the figures and the profile's summary, and writes them as JSON to
   ``bench/results/push_cost-*.json``.

A push is measured as the dispatcher makes it: ``retry_key`` (an ``X-Line-Retry-Key``) and
the content hash the outbox keeps for the messages.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import statistics
import time
import uuid
from typing import Any

from bench.fanout import ACCESS_TOKEN, report, start_sandbox, user_id
from bench.profiles import print_parts, summarise
from bench.reminders import reminder_for

PUSH_RATE = 2000


class Pusher:
    """One sender pushing personalised reminders, paced under LINE's rate."""

    def __init__(self, api_url: str) -> None:
        from connectors.line.client import ChannelCredentials
        from connectors.line.sending import LineSender
        from messaging.outbox.payloads import content_hash

        self._content_hash = content_hash
        self.sender = LineSender(ChannelCredentials(access_token=ACCESS_TOKEN, api_url=api_url))
        self.sent = 0

    def prepared(self, index: int) -> tuple[str, list[dict[str, Any]], str, str]:
        messages = reminder_for(index)
        return user_id(index), messages, str(uuid.uuid4()), self._content_hash(messages)

    def push(self, to: str, messages: list[dict[str, Any]], key: str, digest: str) -> None:
        from connectors.line.sending import Accepted

        answer = self.sender.push(to, messages, retry_key=key, content_key=digest)
        if not isinstance(answer, Accepted) or answer.status != 200:
            raise SystemExit(f"push {key} was not accepted: {answer}")
        self.sent += 1

    def timed(self, first: int, count: int) -> tuple[list[float], float]:
        """Send ``count`` pushes; return each one's thread CPU and the wall seconds in all."""
        cpu: list[float] = []
        wall = 0.0
        interval = 1 / PUSH_RATE
        next_at = time.perf_counter()
        for index in range(first, first + count):
            request = self.prepared(index)
            pause = next_at - time.perf_counter()
            if pause > 0:
                time.sleep(pause)
            next_at = max(next_at + interval, time.perf_counter())
            cpu_before, wall_before = time.thread_time(), time.perf_counter()
            self.push(*request)
            cpu.append(time.thread_time() - cpu_before)
            wall += time.perf_counter() - wall_before
        return cpu, wall

    def profiled(self, first: int, count: int) -> cProfile.Profile:
        requests = [self.prepared(index) for index in range(first, first + count)]
        profile = cProfile.Profile(time.thread_time)
        for request in requests:
            profile.enable()
            self.push(*request)
            profile.disable()
            # cProfile inflates the rate several times over less: pace it all the same.
            time.sleep(1 / PUSH_RATE)
        return profile


def run(args: argparse.Namespace) -> dict[str, Any]:
    users = args.warmup + args.pushes * 2
    sandbox = start_sandbox(args.sandbox_port, users)
    try:
        pusher = Pusher(f"http://127.0.0.1:{args.sandbox_port}")
        pusher.timed(0, args.warmup)
        cpu, wall = pusher.timed(args.warmup, args.pushes)
        profile = pusher.profiled(args.warmup + args.pushes, args.pushes)
        pusher.sender.close()
    finally:
        sandbox.terminate()
        sandbox.wait(timeout=30)
    summary = summarise(pstats.Stats(profile), args.pushes, args.top)
    return {
        "load_average_1m": os.getloadavg()[0],
        "pushes": args.pushes,
        "hub_cpu_us_per_push": round(statistics.fmean(cpu) * 1e6, 1),
        # A loaded machine preempts some pushes mid-call (cache and TLB lost): the median
        # moves less from run to run than the mean.
        "hub_cpu_us_per_push_median": round(statistics.median(cpu) * 1e6, 1),
        "wall_us_per_push": round(wall / args.pushes * 1e6, 1),
        "profiled_cpu_us_per_push": summary["cpu_us_per_push"],
        "profile_by_part": summary["parts"],
        "profile_top_functions": summary["top_functions"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pushes", type=int, default=5000, help="pushes measured (and profiled)")
    parser.add_argument("--warmup", type=int, default=500, help="pushes sent before measuring")
    parser.add_argument("--sandbox-port", type=int, default=8793)
    parser.add_argument("--top", type=int, default=15, help="functions listed from the profile")
    figures = run(parser.parse_args())
    report("push_cost", figures)
    print()
    print_profile(figures)


def print_profile(figures: dict[str, Any]) -> None:
    """The profile's summary as two tables (its CPU per push is the profiler's, inflated)."""
    print_parts(
        {
            "cpu_us_per_push": figures["profiled_cpu_us_per_push"],
            "parts": figures["profile_by_part"],
            "top_functions": figures["profile_top_functions"],
        }
    )
