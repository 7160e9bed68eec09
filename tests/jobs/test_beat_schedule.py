"""Beat runs every periodic task the hub depends on, and each one exists as a task."""

from __future__ import annotations

from config import Settings
from jobs.celery_app import beat_schedule, create_celery


def test_beat_schedules_the_sweepers_and_the_connector_scheduler() -> None:
    settings = Settings(_env_file=None, connector_schedule_interval_seconds=60)
    schedule = beat_schedule(settings)

    assert {"events.sweep", "connectors.schedule", "connectors.writeback"} <= set(schedule)
    assert schedule["connectors.schedule"]["schedule"] == 60.0


def test_every_scheduled_task_is_registered() -> None:
    settings = Settings(_env_file=None)
    app = create_celery(settings)
    assert set(beat_schedule(settings)) <= set(app.tasks)
