"""What a test may not leave behind: a hub thread, or a process it started, still running.

A dispatcher, a worker pool, a server or a child process that outlives its test goes on writing
into the next test's database (foreign-key errors, stray log records in its caplog). So every
test is checked when its teardown is over (``leak_guard`` in tests/conftest.py):

- **threads** named ``tsunagu-…`` (every thread the hub, its runtimes and the sandbox start)
  that were not running before the test's setup;
- **processes** that carry the test's mark in their environment (``OWNER_VARIABLE``, inherited
  by every child and grandchild, even one in a session of its own).

Threads and processes started while a session-, module- or class-scoped fixture is set up
belong to that fixture (the session's hub, sandbox, OIDC provider…), not to the test that
happened to set it up first; they are checked the same way once that fixture is torn down.
What is still running after a short grace is named, with its owner, in the failure; leaked
processes are killed then, so the next test starts clean.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import signal
import threading
import time
import weakref
from collections.abc import Callable, Generator, Iterator
from typing import TypeVar

import pytest

HUB_THREAD_PREFIX = "tsunagu-"
# Not TSUNAGU_*: the tests' process launchers pass on every variable but those.
OWNER_VARIABLE = "HUB_TEST_OWNER"
# A stop that signalled a thread or a process lets it end within this.
GRACE_SECONDS = 1.0
PROC = "/proc"

# The hub threads started while a wider-scoped fixture was set up, and that fixture's mark.
_fixture_threads: weakref.WeakKeyDictionary[threading.Thread, str] = weakref.WeakKeyDictionary()
_fixture_marks = itertools.count(1)


def hub_threads() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if t.name.startswith(HUB_THREAD_PREFIX)}


def _pids() -> set[int]:
    return {int(name) for name in os.listdir(PROC) if name.isdigit()}


def _carrying(pids: set[int], owner: str) -> list[int]:
    entry = f"{OWNER_VARIABLE}={owner}".encode()
    found = []
    for pid in pids:
        try:
            with open(f"{PROC}/{pid}/environ", "rb") as environ:
                if entry in environ.read().split(b"\0"):
                    found.append(pid)
        except OSError:  # ended meanwhile, or not ours to read
            continue
    return sorted(found)


def _command_line(pid: int) -> str:
    try:
        with open(f"{PROC}/{pid}/cmdline", "rb") as cmdline:
            return cmdline.read().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return "?"


class Snapshot:
    """What ran when a test's setup began; its processes carry its mark."""

    def __init__(self, owner: str) -> None:
        self.owner = owner
        self.threads = hub_threads()
        self.pids = _pids()

    def left_threads(self) -> list[threading.Thread]:
        started = hub_threads() - self.threads
        return [t for t in started if t.is_alive() and t not in _fixture_threads]

    def left_processes(self) -> list[int]:
        return _carrying(_pids() - self.pids, self.owner)


def begin(owner: str) -> Snapshot:
    """Mark the processes started from now on as ``owner``'s; remember what already runs."""
    os.environ[OWNER_VARIABLE] = owner
    return Snapshot(owner)


class FixtureOwner:
    """A wider-scoped fixture: what it starts while set up is its own, checked at its end."""

    def __init__(self, name: str) -> None:
        self.owner = f"{name} (#{next(_fixture_marks)})"

    @contextlib.contextmanager
    def setting_up(self) -> Iterator[None]:
        previous = os.environ.get(OWNER_VARIABLE)
        os.environ[OWNER_VARIABLE] = self.owner
        before = hub_threads()
        try:
            yield
        finally:
            # A fixture it set up on the way has claimed its own threads already.
            for thread in hub_threads() - before:
                _fixture_threads.setdefault(thread, self.owner)
            if previous is None:
                del os.environ[OWNER_VARIABLE]
            else:
                os.environ[OWNER_VARIABLE] = previous

    def left_threads(self) -> list[threading.Thread]:
        return [t for t, o in list(_fixture_threads.items()) if o == self.owner and t.is_alive()]

    def left_processes(self) -> list[int]:
        return _carrying(_pids(), self.owner)


def problems_left(owner: Snapshot | FixtureOwner, *, grace: float = GRACE_SECONDS) -> str | None:
    """What ``owner`` left running (after ``grace``), as a message; None if nothing. Processes
    left are killed."""
    deadline = time.monotonic() + grace
    threads = _waited(owner.left_threads, deadline, lambda t: t.join(_left(deadline)))
    pids = _waited(owner.left_processes, deadline, lambda _: time.sleep(0.05))
    if not threads and not pids:
        return None
    found = []
    if threads:
        found.append("threads " + ", ".join(sorted(t.name for t in threads)))
    if pids:
        found.append("processes " + ", ".join(f"{pid} ({_command_line(pid)})" for pid in pids))
        for pid in pids:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
    return (
        f"{owner.owner} left {' and '.join(found)} running {grace:.0f} s after its teardown: "
        "stop them in the fixture or the runtime that started them"
    )


def _left(deadline: float) -> float:
    return max(0.0, deadline - time.monotonic())


T = TypeVar("T")


def _waited(find: Callable[[], list[T]], deadline: float, wait: Callable[[T], None]) -> list[T]:
    found = find()
    while found and _left(deadline) > 0:
        wait(found[0])
        found = find()
    return found


_fixture_owners: dict[pytest.FixtureDef[object], FixtureOwner] = {}


@pytest.hookimpl(wrapper=True)
def pytest_fixture_setup(
    fixturedef: pytest.FixtureDef[object], request: pytest.FixtureRequest
) -> Generator[None, object, object]:
    """What a session-, module- or class-scoped fixture starts is that fixture's, not the
    test's that happens to set it up first; it is checked once the fixture is torn down."""
    if fixturedef.scope == "function":
        return (yield)
    owner = _fixture_owners[fixturedef] = FixtureOwner(
        f"{fixturedef.scope}-scoped fixture {fixturedef.argname}"
    )
    with owner.setting_up():
        return (yield)


def pytest_fixture_post_finalizer(fixturedef: pytest.FixtureDef[object]) -> None:
    owner = _fixture_owners.pop(fixturedef, None)
    if owner is not None and (problem := problems_left(owner)):
        pytest.fail(problem, pytrace=False)
