"""Intake's nudges: one task per group of committed events, sent off the event loop."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from api.nudges import MAX_IDS, TASK, BackgroundNudges, nudge
from core.db import TaskSender
from tests.waiting import wait_for

MakeNudges = Callable[..., BackgroundNudges]


@pytest.fixture
def background_nudges() -> Iterator[MakeNudges]:
    """``BackgroundNudges`` closed at the end of the test, as the app's shutdown closes its."""
    made: list[BackgroundNudges] = []

    def make(sender: TaskSender, **options: Any) -> BackgroundNudges:
        made.append(BackgroundNudges(sender, **options))
        return made[-1]

    yield make
    for nudges in made:
        nudges.close()


def test_a_large_batch_is_nudged_in_tasks_of_bounded_size_each_event_once() -> None:
    sent: list[tuple[str, dict[str, Any]]] = []

    nudge(lambda name, kwargs: sent.append((name, kwargs)), list(range(MAX_IDS * 2 + 1)))

    assert [name for name, _ in sent] == [TASK] * 3
    assert [i for _, kwargs in sent for i in kwargs["event_ids"]] == list(range(MAX_IDS * 2 + 1))


def test_batches_committed_within_the_linger_go_out_in_one_nudge(
    background_nudges: MakeNudges,
) -> None:
    sent: list[list[int]] = []

    nudges = background_nudges(
        lambda name, kwargs: sent.append(kwargs["event_ids"]), linger_seconds=1.0
    )
    for batch in ([1, 2], [3], [4, 5]):
        nudges.add(batch)  # three batches committed a moment apart

    wait_for(lambda: sent, what="the nudge")
    assert sent == [[1, 2, 3, 4, 5]]


def test_ids_gathered_when_the_hub_stops_are_sent_at_its_exit(
    background_nudges: MakeNudges,
) -> None:
    sent: list[list[int]] = []
    nudges = background_nudges(
        lambda name, kwargs: sent.append(kwargs["event_ids"]), linger_seconds=60
    )
    nudges.add([7, 8])

    nudges.flush()  # what a clean exit runs

    assert sent == [[7, 8]]


def test_the_apps_shutdown_sends_the_gathered_ids_and_ends_the_thread_at_once() -> None:
    sent: list[list[int]] = []
    nudges = BackgroundNudges(
        lambda name, kwargs: sent.append(kwargs["event_ids"]), linger_seconds=60
    )
    before = set(threading.enumerate())
    nudges.add([7, 8])
    (thread,) = [t for t in set(threading.enumerate()) - before if t.name == "tsunagu-nudges"]

    started = time.monotonic()
    nudges.close()

    assert time.monotonic() - started < 10, "the close waited out the 60 s linger"
    assert not thread.is_alive()
    assert sent == [[7, 8]]
    nudges.add([9])  # an event committed as the app stops: sent on the spot
    assert sent == [[7, 8], [9]]


def test_batches_committed_while_a_publish_waits_go_out_together_in_the_next(
    background_nudges: MakeNudges,
) -> None:
    sent: list[list[int]] = []
    publishing = threading.Event()
    broker_slow = threading.Event()

    def publish(name: str, kwargs: dict[str, Any]) -> None:
        publishing.set()
        broker_slow.wait(10)
        sent.append(kwargs["event_ids"])

    nudges = background_nudges(publish)
    nudges.add([1])  # returns at once, the publish waits on its own thread
    assert publishing.wait(10)
    for event_id in range(2, 12):
        nudges.add([event_id])
    broker_slow.set()

    wait_for(lambda: sum(map(len, sent)) == 11, what="every event nudged")
    assert sent == [[1], list(range(2, 12))]


def test_a_broker_that_refuses_a_publish_loses_only_that_nudge(
    background_nudges: MakeNudges,
) -> None:
    tried: list[list[int]] = []
    sent: list[list[int]] = []

    def publish(name: str, kwargs: dict[str, Any]) -> None:
        tried.append(kwargs["event_ids"])
        if kwargs["event_ids"] == [1]:
            raise ConnectionError("broker down")
        sent.append(kwargs["event_ids"])

    nudges = background_nudges(publish)
    nudges.add([1])
    wait_for(lambda: tried, what="the refused publish")
    nudges.add([2])

    wait_for(lambda: sent == [[2]], what="the next batch nudged")
    assert tried == [[1], [2]]
