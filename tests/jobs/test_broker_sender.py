"""The production task sender: a broker that is down costs intake one quick try, not a wait."""

from __future__ import annotations

import logging
import time

import pytest

from config import Settings
from core.serving import free_port
from jobs.celery_app import BrokerSender, create_celery


def down_broker_sender(*, pause_seconds: float) -> BrokerSender:
    """A sender whose Redis broker port nobody listens on."""
    url = f"redis://127.0.0.1:{free_port('127.0.0.1')}/0"
    return BrokerSender(
        create_celery(Settings(_env_file=None, broker_url=url)), pause_seconds=pause_seconds
    )


def sender_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    """The sender's own log records (another test's threads may log beside it)."""
    return [r for r in caplog.records if r.name == "jobs.celery_app"]


def failed_sends(caplog: pytest.LogCaptureFixture) -> int:
    return sum(1 for r in sender_records(caplog) if r.levelno == logging.WARNING)


def test_after_one_failed_send_the_next_nudges_are_left_to_the_sweeper_at_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    sender = down_broker_sender(pause_seconds=60)

    with caplog.at_level(logging.DEBUG, logger="jobs.celery_app"):
        started = time.monotonic()
        for event_id in range(20):
            sender("events.process", {"event_id": event_id})
        elapsed = time.monotonic() - started

    assert failed_sends(caplog) == 1
    assert "left for the sweeper" in sender_records(caplog)[0].getMessage()
    assert elapsed < 2.0


def test_sending_is_tried_again_once_the_pause_is_over(caplog: pytest.LogCaptureFixture) -> None:
    sender = down_broker_sender(pause_seconds=0)

    with caplog.at_level(logging.WARNING, logger="jobs.celery_app"):
        for event_id in range(3):
            sender("events.process", {"event_id": event_id})

    assert failed_sends(caplog) == 3
