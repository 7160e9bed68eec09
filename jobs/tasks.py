"""Celery tasks, named ``<domain>.<verb>``: open a session, call a service, nothing else."""

from __future__ import annotations

import logging

from celery import shared_task
from sqlalchemy.orm import Session

from commerce import connections, sync, writeback
from commerce.events import handle_connector_event
from config import Settings
from connectors.errors import RetriableError
from core import inbox
from core.clock import utcnow
from core.enqueue import enqueue_after_commit, enqueue_now
from core.inbox import InboundEvent
from idlink.events import handle_line_event
from jobs import runtime
from messaging.campaigns import segment_deliveries, triggers
from messaging.outbox import dispatcher, guardrails, replies
from messaging.outbox.limiter import limiter_for
from messaging.reminders import reminders
from messaging.rich_menus import rich_menus
from messaging.sequences import sequence_steps, sequences
from privacy import erasure as privacy_erasure
from privacy import retention

log = logging.getLogger(__name__)


def _handler_for(settings: Settings) -> inbox.Handler:
    """Route a stored event to the service of its source."""

    def handle(session: Session, event: InboundEvent) -> None:
        if event.source == "line":
            handle_line_event(session, event, settings=settings)
            guardrails.on_line_event(session, event)
            replies.on_line_event(session, event)
            sequences.on_line_event(session, event)
        else:
            # Before the store's handling: a redaction follows the customer to their member.
            privacy_erasure.on_connector_event(session, event)
            handle_connector_event(session, event)
            _nudge_triggers(session)

    return handle


def _nudge_triggers(session: Session) -> None:
    """Purchases and bookings just written get their messages within seconds, not a sweep."""
    enqueue_after_commit(session, "messaging.triggers")
    enqueue_after_commit(session, "messaging.reminders")


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


@shared_task(name="connectors.schedule")
def schedule_syncs() -> int:
    """Start the sync of every connection whose interval has passed."""
    rt = runtime.current()
    with rt.database.session_scope() as session:
        due = connections.due_connections(session, now=utcnow())
        for connection in due:
            enqueue_after_commit(session, "connectors.sync", connection_id=connection.id)
    return len(due)


@shared_task(name="connectors.sync")
def sync_connection(connection_id: int) -> None:
    """Run one connection's incremental sync; a run already in progress makes this a no-op."""
    rt = runtime.current()
    try:
        sync.run_sync(rt.database, connection_id=connection_id)
    except sync.SyncBusy as exc:
        log.info("%s", exc.detail)
        return
    # The run committed page by page, outside any session of ours: nudge the triggers directly.
    if rt.database.task_sender is not None:
        rt.database.task_sender("messaging.triggers", {})
        rt.database.task_sender("messaging.reminders", {})


@shared_task(name="connectors.writeback")
def write_back_links() -> int:
    """Write friends' link changes onto their CRM contacts (Salesforce), batched and retried."""
    rt = runtime.current()
    return writeback.process_writebacks(rt.database).sent


@shared_task(
    name="idlink.sync_rich_menu",
    autoretry_for=(RetriableError,),
    retry_backoff=5,
    retry_backoff_max=600,
    max_retries=8,
)
def sync_rich_menu(friend_id: int) -> str:
    """Show a friend the menu their segments or link state call for; retried while LINE is down."""
    rt = runtime.current()
    with rt.database.session_scope() as session:
        return rich_menus.sync_friend(session, friend_id=friend_id, settings=rt.settings)


def dispatch_config(settings: Settings) -> dispatcher.DispatchConfig:
    """The dispatcher as configured: LINE's API and the channels' rate limits."""
    return dispatcher.DispatchConfig(
        api_url=settings.line_api_url,
        rates={
            "push": settings.line_push_rate,
            "multicast": settings.line_multicast_rate,
            "reply": settings.line_push_rate,
        },
        reply_token_seconds=settings.reply_token_seconds,
        threads=settings.dispatch_threads,
    )


@shared_task(name="messaging.dispatch")
def dispatch_deliveries() -> int:
    """Send due deliveries until none is left; any number of these may run at once."""
    rt = runtime.current()
    config = dispatch_config(rt.settings)
    stats = dispatcher.run(rt.database, config=config, limiter=limiter_for(rt.settings.broker_url))
    if stats.cut_short:
        # The run ended at its time limit with work left: go on now, not at the next sweep.
        enqueue_now(rt.database.task_sender, "messaging.dispatch")
    return stats.requests


@shared_task(name="messaging.sweep")
def sweep_deliveries() -> int:
    """Recover batches a killed worker left, suppress what blocked friends had pending, nudge."""
    rt = runtime.current()
    with rt.database.session_scope() as session:
        due = dispatcher.sweep(session)
        if due:
            enqueue_after_commit(session, "messaging.dispatch")
    return due


@shared_task(name="messaging.triggers")
def fire_triggers() -> int:
    """Fire purchase campaigns on purchases written since they last ran; run due scans."""
    rt = runtime.current()
    with rt.database.session_scope() as session:
        return triggers.run(session, public_url=rt.settings.public_url).planned


@shared_task(name="messaging.reminders")
def reconcile_reminders() -> int:
    """Plan, move and cancel visit reminders for bookings written since the rules last ran."""
    rt = runtime.current()
    with rt.database.session_scope() as session:
        return reminders.reconcile(session, public_url=rt.settings.public_url).planned


@shared_task(name="messaging.campaigns")
def run_segment_campaigns() -> int:
    """Start the segment deliveries that are due; complete those with nothing left to send."""
    rt = runtime.current()
    with rt.database.session_scope() as session:
        result = segment_deliveries.run(session, settings=rt.settings)
    return len(result.started)


@shared_task(name="messaging.sequences")
def run_sequences() -> int:
    """Enrol friends in step sequences, apply exits and plan the steps that are due."""
    rt = runtime.current()
    with rt.database.session_scope() as session:
        result = sequence_steps.run(session, settings=rt.settings)
    return result.planned


@shared_task(name="messaging.rich_menus")
def sync_segment_rich_menus() -> int:
    """Switch friends' rich menus to their segments' in bulk; only changes are sent."""
    rt = runtime.current()
    with rt.database.session_scope() as session:
        result = rich_menus.sync_all(session, settings=rt.settings)
    return result.requests


@shared_task(name="privacy.retention")
def purge_expired_data() -> int:
    """Delete or reduce raw events, messages and rendered sends past their retention."""
    rt = runtime.current()
    with rt.database.session_scope() as session:
        counts = retention.purge(
            session, policy=retention.RetentionPolicy.from_settings(rt.settings)
        )
    return sum(counts.values())
