"""Enqueue after commit: a task is sent only once the rows it will read are durable.

A rolled-back transaction sends nothing. A sent task that is lost (broker down, worker killed)
is re-discovered by the sweeper from the rows themselves, so nudges may be lost but work is not.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session

log = logging.getLogger(__name__)

_PENDING = "pending_tasks"


def enqueue_after_commit(session: Session, task_name: str, **kwargs: Any) -> None:
    """Send ``task_name(**kwargs)`` once this session's transaction commits."""
    session.info.setdefault(_PENDING, []).append((task_name, kwargs))


@event.listens_for(Session, "after_commit")
def _send_pending(session: Session) -> None:
    pending = session.info.pop(_PENDING, [])
    sender = session.info.get("task_sender")
    if not pending or sender is None:
        return
    for task_name, kwargs in pending:
        try:
            sender(task_name, kwargs)
        except Exception:
            # The row is committed; the sweeper will pick the work up. Never fail the request.
            log.warning("could not enqueue %s; the sweeper will retry it", task_name, exc_info=True)


@event.listens_for(Session, "after_rollback")
def _drop_pending(session: Session) -> None:
    session.info.pop(_PENDING, None)
