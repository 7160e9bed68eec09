"""Waiting for what the hub does in the background, with a deadline instead of a sleep."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Literal, TypeVar

T = TypeVar("T")


def wait_for(
    check: Callable[[], T | Literal[False] | None],
    *,
    timeout: float = 10.0,
    what: str = "condition",
) -> T:
    """Poll ``check`` until it returns something truthy; fail with ``what`` after ``timeout``.

    ``check`` says "not yet" with ``None`` or ``False`` (or anything falsy), so the caller gets
    what it waited for, not an optional.
    """
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.02)
