"""Celery tasks, named ``<domain>.<verb>``: open a session, call a service, nothing else."""

from __future__ import annotations

import logging

from celery import Task, shared_task
from sqlalchemy.orm import Session

from autoreply import service as autoreply
from commerce import connections, sync, writeback
from commerce.coupons import filling
from commerce.events import handle_connector_event
from config import Settings
from connectors.errors import RetriableError
from core import inbox
from core.clock import utcnow
from core.enqueue import enqueue_after_commit, enqueue_now
from core.inbox import InboundEvent
from growth import routes as follow_routes
from growth.tagrules import events as tag_rule_events
from growth.tagrules import feeds as tag_rule_feeds
from idlink import profiles, purge
from idlink.events import handle_line_event
from idlink.media import fetch as media_fetch
from idlink.media import intake as media_intake
from inbox import conversations as inbox_conversations
from inbox import line_reads, live, presence
from jobs import runtime
from messaging.campaigns import segment_deliveries, triggers
from messaging.friend_list import bulk as friend_bulk
from messaging.outbox import consent, dispatcher, guardrails, replies
from messaging.outbox.limiter import limiter_for
from messaging.reminders import reminders
from messaging.rich_menus import rich_menus
from messaging.sequences import sequence_steps, sequences
from privacy import erasure as privacy_erasure
from privacy import retention
from privacy import rich_menus as privacy_rich_menus

log = logging.getLogger(__name__)


def _handler_for(settings: Settings) -> inbox.Handler:
    """Route a stored event to the service of its source."""

    def handle(session: Session, event: InboundEvent) -> None:
        if event.source == "line":
            handle_line_event(session, event, settings=settings)
            media_intake.on_line_event(session, event, settings=settings)
            follow_routes.on_line_event(session, event, settings=settings)
            tag_rule_events.on_line_event(session, event)
            guardrails.on_line_event(session, event)
            consent.on_line_event(session, event)
            replies.on_line_event(session, event)
            sequences.on_line_event(session, event)
            inbox_conversations.on_line_event(session, event)
            autoreply.on_line_event(session, event, settings=settings)
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
    enqueue_after_commit(session, "growth.tag_rules")


@shared_task(name="events.process", bind=True)
def process_event(self: Task, event_id: int) -> str | None:
    """Process one stored inbound event (no-op when already done or not yet due)."""
    rt = runtime.of(self.app)
    with rt.database.session_scope() as session:
        return inbox.process_event(
            session,
            event_id,
            _handler_for(rt.settings),
            max_attempts=rt.settings.event_max_attempts,
        )


@shared_task(name="events.process_batch", bind=True)
def process_events(self: Task, event_ids: list[int]) -> int:
    """Process stored inbound events one after the other, each in its own transaction (one
    nudge covers a batch intake committed together); return how many were processed."""
    rt = runtime.of(self.app)
    handler = _handler_for(rt.settings)
    done = 0
    for event_id in event_ids:
        with rt.database.session_scope() as session:
            status = inbox.process_event(
                session, event_id, handler, max_attempts=rt.settings.event_max_attempts
            )
        done += status is not None
    return done


@shared_task(name="inbox.mark_read", bind=True)
def mark_conversation_read(self: Task, conversation_id: int) -> bool:
    """Tell LINE the conversation's messages were read (channels that read manually)."""
    rt = runtime.of(self.app)
    with rt.database.session_scope() as session:
        return line_reads.send_read_mark(session, conversation_id, settings=rt.settings)


@shared_task(name="inbox.wake_snoozed", bind=True)
def wake_snoozed(self: Task) -> int:
    """Snoozed conversations whose time came become new again."""
    rt = runtime.of(self.app)
    with rt.database.session_scope() as session:
        return inbox_conversations.wake_snoozed(session)


@shared_task(name="inbox.forget_signals", bind=True)
def forget_signals(self: Task) -> int:
    """Delete the live-update signals older than an hour (consoles read them within seconds)
    and the presence of conversation pages long silent."""
    rt = runtime.of(self.app)
    with rt.database.session_scope() as session:
        return live.forget_old(session) + presence.forget_old(session)


@shared_task(name="idlink.purge", bind=True)
def purge_linking(self: Task) -> dict[str, int]:
    """Delete expired nonces and link codes and throttles that count nothing any more."""
    rt = runtime.of(self.app)
    with rt.database.session_scope() as session:
        return purge.purge_expired(session, settings=rt.settings, now=utcnow())


@shared_task(name="events.sweep", bind=True)
def sweep_events(self: Task) -> int:
    """Process every due event a lost nudge, a crash or a retry left pending."""
    rt = runtime.of(self.app)
    with rt.database.session_scope() as session:
        due = inbox.due_event_ids(session)
    process = self.app.tasks["events.process"]
    for event_id in due:
        process(event_id)
    return len(due)


@shared_task(name="connectors.schedule", bind=True)
def schedule_syncs(self: Task) -> int:
    """Start the sync of every connection whose interval has passed."""
    rt = runtime.of(self.app)
    with rt.database.session_scope() as session:
        due = connections.due_connections(session, now=utcnow())
        for connection in due:
            enqueue_after_commit(session, "connectors.sync", connection_id=connection.id)
    return len(due)


@shared_task(name="connectors.sync", bind=True)
def sync_connection(self: Task, connection_id: int) -> None:
    """Run one connection's incremental sync; a run already in progress makes this a no-op."""
    rt = runtime.of(self.app)
    try:
        sync.run_sync(rt.database, connection_id=connection_id)
    except sync.SyncBusy as exc:
        log.info("%s", exc.detail)
        return
    # The run committed page by page, outside any session of ours: nudge the triggers directly.
    if rt.database.task_sender is not None:
        rt.database.task_sender("messaging.triggers", {})
        rt.database.task_sender("messaging.reminders", {})
        rt.database.task_sender("growth.tag_rules", {})


@shared_task(
    name="coupons.fill",
    autoretry_for=(RetriableError,),
    retry_backoff=5,
    retry_backoff_max=600,
    max_retries=8,
    bind=True,
)
def fill_coupon_pool(self: Task, pool_id: int) -> int:
    """Import a pool's new codes into Shopify and follow them to the end; returns codes ready."""
    rt = runtime.of(self.app)
    return filling.fill(rt.database, pool_id=pool_id).ready


@shared_task(name="connectors.writeback", bind=True)
def write_back_links(self: Task) -> int:
    """Write friends' link changes onto their CRM contacts (Salesforce), batched and retried."""
    rt = runtime.of(self.app)
    return writeback.process_writebacks(rt.database).sent


@shared_task(
    name="idlink.sync_rich_menu",
    autoretry_for=(RetriableError,),
    retry_backoff=5,
    retry_backoff_max=600,
    max_retries=8,
    bind=True,
)
def sync_rich_menu(self: Task, friend_id: int) -> str:
    """Show a friend the menu their segments or link state call for; retried while LINE is down."""
    rt = runtime.of(self.app)
    with rt.database.session_scope() as session:
        return rich_menus.sync_friend(session, friend_id=friend_id, settings=rt.settings)


@shared_task(name="idlink.refresh_profile", bind=True)
def refresh_profile(self: Task, friend_id: int) -> bool:
    """Fetch a friend's LINE profile again when a chart found it stale."""
    rt = runtime.of(self.app)
    with rt.database.session_scope() as session:
        return profiles.refresh_if_stale(session, friend_id=friend_id, settings=rt.settings)


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


@shared_task(name="messaging.dispatch", bind=True)
def dispatch_deliveries(self: Task) -> int:
    """Send due deliveries until none is left; any number of these may run at once."""
    rt = runtime.of(self.app)
    config = dispatch_config(rt.settings)
    limiter = limiter_for(rt.settings.broker_url, rt.settings.resolved_database_url)
    stats = dispatcher.run(rt.database, config=config, limiter=limiter)
    if stats.cut_short:
        # The run ended at its time limit with work left: go on now, not at the next sweep.
        enqueue_now(rt.database.task_sender, "messaging.dispatch")
    return stats.requests


@shared_task(name="messaging.sweep", bind=True)
def sweep_deliveries(self: Task) -> int:
    """Recover batches a killed worker left, suppress what blocked friends had pending, nudge."""
    rt = runtime.of(self.app)
    with rt.database.session_scope() as session:
        due = dispatcher.sweep(session)
        if due:
            enqueue_after_commit(session, "messaging.dispatch")
    return due


@shared_task(name="messaging.triggers", bind=True)
def fire_triggers(self: Task) -> int:
    """Fire purchase campaigns on purchases written since they last ran; run due scans."""
    rt = runtime.of(self.app)
    with rt.database.session_scope() as session:
        return triggers.run(session, public_url=rt.settings.public_url).planned


@shared_task(name="growth.tag_rules", bind=True)
def run_tag_rules(self: Task) -> int:
    """Tag friends by the rules on purchases, bookings, links and lapses written since they
    last ran; return how many events they acted on."""
    rt = runtime.of(self.app)
    with rt.database.session_scope() as session:
        return tag_rule_feeds.run(session).hits


@shared_task(name="messaging.reminders", bind=True)
def reconcile_reminders(self: Task) -> int:
    """Plan, move and cancel visit reminders for bookings written since the rules last ran."""
    rt = runtime.of(self.app)
    with rt.database.session_scope() as session:
        return reminders.reconcile(session, public_url=rt.settings.public_url).planned


@shared_task(name="messaging.campaigns", bind=True)
def run_segment_campaigns(self: Task) -> int:
    """Start the segment deliveries that are due; complete those with nothing left to send."""
    rt = runtime.of(self.app)
    with rt.database.session_scope() as session:
        result = segment_deliveries.run(session, settings=rt.settings)
    return len(result.started)


@shared_task(name="messaging.sequences", bind=True)
def run_sequences(self: Task) -> int:
    """Enrol friends in step sequences, apply exits and plan the steps that are due."""
    rt = runtime.of(self.app)
    with rt.database.session_scope() as session:
        result = sequence_steps.run(session, settings=rt.settings)
    return result.planned


@shared_task(name="messaging.rich_menus", bind=True)
def sync_segment_rich_menus(self: Task) -> int:
    """Switch friends' rich menus to their segments' in bulk; only changes are sent."""
    rt = runtime.of(self.app)
    with rt.database.session_scope() as session:
        result = rich_menus.sync_all(session, settings=rt.settings)
    return result.requests


@shared_task(name="privacy.retention", bind=True)
def purge_expired_data(self: Task) -> int:
    """Delete or reduce raw events, messages and rendered sends past their retention."""
    rt = runtime.of(self.app)
    with rt.database.session_scope() as session:
        counts = retention.purge(
            session, policy=retention.RetentionPolicy.from_settings(rt.settings)
        )
    return sum(counts.values())


@shared_task(name="media.fetch", bind=True)
def fetch_media(self: Task, media_id: int) -> str | None:
    """Download a medium a friend sent from LINE and keep it (no-op when no longer pending)."""
    rt = runtime.of(self.app)
    with rt.database.session_scope() as session:
        return media_fetch.fetch(session, media_id, settings=rt.settings)


@shared_task(name="media.sweep", bind=True)
def sweep_media(self: Task) -> int:
    """Fetch the media whose nudge was lost or whose retry is due."""
    rt = runtime.of(self.app)
    with rt.database.session_scope() as session:
        due = media_intake.due_fetches(session)
        for media_id in due:
            enqueue_after_commit(session, media_intake.FETCH_TASK, media_id=media_id)
    return len(due)


@shared_task(name="friends.bulk", bind=True)
def run_friend_bulk(self: Task, job_id: int) -> None:
    """Run a bulk action over friends to the end, committing each batch (progress for staff)."""
    rt = runtime.of(self.app)
    try:
        more = True
        while more:
            with rt.database.session_scope() as session:
                more = friend_bulk.run_next(session, job_id)
    except Exception as exc:
        with rt.database.session_scope() as session:
            friend_bulk.fail(session, job_id, f"{type(exc).__name__}: {exc}")
        raise


@shared_task(name="friends.bulk_sweep", bind=True)
def sweep_friend_bulk(self: Task) -> int:
    """Take up bulk actions that no worker has advanced lately (a lost nudge, a crash)."""
    rt = runtime.of(self.app)
    with rt.database.session_scope() as session:
        stalled = friend_bulk.stalled(session)
        for job_id in stalled:
            enqueue_after_commit(session, "friends.bulk", job_id=job_id)
    return len(stalled)


@shared_task(name="privacy.unlink_rich_menus", bind=True)
def unlink_erased_rich_menus(self: Task) -> int:
    """Return erased friends to the default rich menu on LINE; failures wait for a later run."""
    rt = runtime.of(self.app)
    with rt.database.session_scope() as session:
        return privacy_rich_menus.unlink_due(session, settings=rt.settings)
