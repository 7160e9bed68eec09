"""Run `tsunagu serve`, `worker` and `beat` as real processes, and always clean them up.

Each process gets its own session (process group), so a prefork worker and its children stop,
or are killed with ``kill -9``, together. Output goes to a file, read back to explain a failure.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

import httpx
import pytest

from tests.waiting import wait_for

# A warm shutdown waits for running tasks; on a busy 2-core machine that can take a while.
STOP_TIMEOUT_SECONDS = 30.0
START_TIMEOUT_SECONDS = 60.0


def tsunagu_command() -> list[str]:
    """The installed `tsunagu` script of this interpreter's environment."""
    return [str(Path(sys.executable).with_name("tsunagu"))]


def clean_environment(**variables: str) -> dict[str, str]:
    """This process's environment without any TSUNAGU_* variable, plus ``variables``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TSUNAGU_")}
    env.update(variables)
    return env


class TsunaguProcess:
    """One `tsunagu …` process with its output in ``log_path``."""

    def __init__(self, args: list[str], *, env: Mapping[str, str], cwd: Path, name: str):
        self.args = args
        self.name = name
        self.log_path = cwd / f"{name}.log"
        with self.log_path.open("wb") as log:
            self.popen = subprocess.Popen(
                [*tsunagu_command(), *args],
                env=dict(env),
                cwd=cwd,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    @property
    def pid(self) -> int:
        return self.popen.pid

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def running(self) -> bool:
        return self.popen.poll() is None

    def expect_running(self) -> None:
        """Fail with the process's output if it has exited."""
        if not self.running():
            pytest.fail(f"`tsunagu {' '.join(self.args)}` exited:\n{self.output()[-4000:]}")

    def wait_for_output(self, text: str, *, timeout: float = START_TIMEOUT_SECONDS) -> None:
        """Wait until the process has written ``text``."""

        def written() -> bool:
            self.expect_running()
            return text in self.output()

        wait_for(written, timeout=timeout, what=f"{self.name} to log {text!r}")

    def kill(self) -> None:
        """``kill -9`` the process and its children: no shutdown, no acknowledgement."""
        self._signal_group(signal.SIGKILL)
        self.popen.wait(timeout=STOP_TIMEOUT_SECONDS)

    def terminate(self) -> None:
        """Ask the process for a graceful shutdown (what a service manager's stop does)."""
        if self.running():
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGTERM)

    def stop(self) -> int:
        """SIGTERM, then SIGKILL if it does not end in time; no child outlives it.

        Returns the exit status (negative: the signal that ended it).
        """
        self.terminate()
        try:
            self.popen.wait(timeout=STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            self._signal_group(signal.SIGKILL)
            self.popen.wait(timeout=STOP_TIMEOUT_SECONDS)
        # Children a killed parent left behind (a prefork pool) go with the group.
        self._signal_group(signal.SIGKILL)
        return self.popen.returncode

    def _signal_group(self, signum: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.pid, signum)


class Processes:
    """Starts `tsunagu` processes for one test and stops every one of them afterwards."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.started: list[TsunaguProcess] = []

    def start(self, *args: str, env: Mapping[str, str], name: str | None = None) -> TsunaguProcess:
        """Start `tsunagu <args>` in the test's directory."""
        label = name or f"{args[0]}-{len(self.started) + 1}"
        process = TsunaguProcess(list(args), env=env, cwd=self.workdir, name=label)
        self.started.append(process)
        return process

    def serve(self, port: int, *, env: Mapping[str, str]) -> TsunaguProcess:
        """Start `tsunagu serve` and wait until it answers ``/healthz``."""
        process = self.start("serve", "--port", str(port), env=env)
        wait_until_healthy(process, port)
        return process

    def stop_all(self) -> None:
        """Stop every process started, all shutting down at once."""
        for process in self.started:
            process.terminate()
        for process in self.started:
            process.stop()


def wait_until_healthy(process: TsunaguProcess, port: int) -> None:
    """Wait until the `tsunagu serve` on ``port`` answers ``/healthz`` with 200."""
    url = f"http://127.0.0.1:{port}/healthz"

    def healthy() -> bool:
        process.expect_running()
        try:
            return httpx.get(url, timeout=1).status_code == 200
        except httpx.TransportError:
            return False

    wait_for(healthy, timeout=START_TIMEOUT_SECONDS, what=f"tsunagu serve on port {port}")
