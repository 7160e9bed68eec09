"""The leak guard (tests/leaks.py): what a test leaves running is named with the test, and its
processes are killed; what ends within the grace, or is no hub thread, passes."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
from pathlib import Path

import pytest

from tests import leaks
from tests.waiting import wait_for

TEST = "tests/elsewhere.py::test_that_leaks"


@pytest.fixture(autouse=True)
def own_mark(monkeypatch: pytest.MonkeyPatch) -> None:
    """``leaks.begin`` marks this process's children: the real mark comes back afterwards."""
    monkeypatch.setenv(leaks.OWNER_VARIABLE, os.environ[leaks.OWNER_VARIABLE])


def test_a_hub_thread_left_running_fails_with_its_name_and_the_tests() -> None:
    release = threading.Event()
    snapshot = leaks.begin(TEST)
    left = threading.Thread(target=release.wait, name="tsunagu-dispatch-7", daemon=True)
    left.start()
    try:
        problem = leaks.problems_left(snapshot, grace=0.1)
    finally:
        release.set()
        left.join()

    assert problem is not None
    assert problem.startswith(f"{TEST} left threads tsunagu-dispatch-7 running")


def test_a_thread_ending_within_the_grace_or_of_no_hub_passes() -> None:
    release = threading.Event()
    snapshot = leaks.begin(TEST)
    threading.Timer(0.05, lambda: None).start()
    ending = threading.Timer(0.05, lambda: None)
    ending.name = "tsunagu-retry-ending"
    ending.start()
    other = threading.Thread(target=release.wait, name="AnyIO worker thread", daemon=True)
    other.start()
    try:
        assert leaks.problems_left(snapshot, grace=1.0) is None
    finally:
        release.set()
        other.join()


def test_a_process_left_running_even_a_grandchild_in_a_session_of_its_own_is_killed() -> None:
    snapshot = leaks.begin(TEST)
    child = subprocess.Popen(["/bin/sleep", "60"])
    # A shell that starts a process of its own and exits: the grandchild has no parent left.
    shell = subprocess.run(
        ["/bin/sh", "-c", "/bin/sleep 60 >/dev/null 2>&1 & echo $!"],
        capture_output=True,
        text=True,
        check=True,
        start_new_session=True,
    )
    grandchild = int(shell.stdout)

    problem = leaks.problems_left(snapshot, grace=0.1)

    assert problem is not None
    assert f"{child.pid} (/bin/sleep 60)" in problem
    assert f"{grandchild} (/bin/sleep 60)" in problem
    assert child.wait(5) == -signal.SIGKILL
    wait_for(lambda: not _running(grandchild), what="the grandchild to be killed")


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"
