"""Celery tasks, named ``<domain>.<verb>``: open a session, call a service, nothing else."""

from __future__ import annotations

import logging

from celery import shared_task
from sqlalchemy.orm import Session

from config import Settings
from core import inbox
from core.inbox import InboundEvent
from idlink.events import handle_line_event
from jobs import runtime

log = logging.getLogger(__name__)


def _handler_for(settings: Settings) -> inbox.Handler:
    """Route a stored event to the service of its source."""

    def handle(session: Session, event: InboundEvent) -> None:
        if event.source == "line":
            handle_line_event(session, event, settings=settings)
        else:
            log.info("no processor for %s events yet; event %s kept", event.source, event.id)

    return handle


@shared_task(name="events.process")
def process_event(event_id: int) -> str | None:
    """Process one stored inbound event (no-op when already done or not yet due)."""
    rt = runtime.current()
    with rt.database.session_scope() as session:
        return inbox.process_event(
            session,
            event_id,
            _handler_for(rt.settings),
            max_attempts=rt.settings.event_max_attempts,
        )


@shared_task(name="events.sweep")
def sweep_events() -> int:
    """Process every due event a lost nudge, a crash or a retry left pending."""
    rt = runtime.current()
    with rt.database.session_scope() as session:
        due = inbox.due_event_ids(session)
    for event_id in due:
        process_event(event_id)
    return len(due)
