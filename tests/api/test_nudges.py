"""Intake's nudges: one task per group of committed events, sent off the event loop."""

from __future__ import annotations

import threading
from typing import Any

from api.nudges import MAX_IDS, TASK, BackgroundNudges, nudge
from tests.waiting import wait_for


def test_a_large_batch_is_nudged_in_tasks_of_bounded_size_each_event_once() -> None:
    sent: list[tuple[str, dict[str, Any]]] = []

    nudge(lambda name, kwargs: sent.append((name, kwargs)), list(range(MAX_IDS * 2 + 1)))

    assert [name for name, _ in sent] == [TASK] * 3
    assert [i for _, kwargs in sent for i in kwargs["event_ids"]] == list(range(MAX_IDS * 2 + 1))


def test_batches_committed_within_the_linger_go_out_in_one_nudge() -> None:
    sent: list[list[int]] = []

    nudges = BackgroundNudges(
        lambda name, kwargs: sent.append(kwargs["event_ids"]), linger_seconds=1.0
    )
    for batch in ([1, 2], [3], [4, 5]):
        nudges.add(batch)  # three batches committed a moment apart

    wait_for(lambda: sent, what="the nudge")
    assert sent == [[1, 2, 3, 4, 5]]


def test_ids_gathered_when_the_hub_stops_are_sent_at_its_exit() -> None:
    sent: list[list[int]] = []
    nudges = BackgroundNudges(
        lambda name, kwargs: sent.append(kwargs["event_ids"]), linger_seconds=60
    )
    nudges.add([7, 8])

    nudges.flush()  # what a clean exit runs

    assert sent == [[7, 8]]


def test_batches_committed_while_a_publish_waits_go_out_together_in_the_next() -> None:
    sent: list[list[int]] = []
    publishing = threading.Event()
    broker_slow = threading.Event()

    def publish(name: str, kwargs: dict[str, Any]) -> None:
        publishing.set()
        broker_slow.wait(10)
        sent.append(kwargs["event_ids"])

    nudges = BackgroundNudges(publish)
    nudges.add([1])  # returns at once, the publish waits on its own thread
    assert publishing.wait(10)
    for event_id in range(2, 12):
        nudges.add([event_id])
    broker_slow.set()

    wait_for(lambda: sum(map(len, sent)) == 11, what="every event nudged")
    assert sent == [[1], list(range(2, 12))]


def test_a_broker_that_refuses_a_publish_loses_only_that_nudge() -> None:
    tried: list[list[int]] = []
    sent: list[list[int]] = []

    def publish(name: str, kwargs: dict[str, Any]) -> None:
        tried.append(kwargs["event_ids"])
        if kwargs["event_ids"] == [1]:
            raise ConnectionError("broker down")
        sent.append(kwargs["event_ids"])

    nudges = BackgroundNudges(publish)
    nudges.add([1])
    wait_for(lambda: tried, what="the refused publish")
    nudges.add([2])

    wait_for(lambda: sent == [[2]], what="the next batch nudged")
    assert tried == [[1], [2]]
