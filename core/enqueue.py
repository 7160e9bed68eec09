"""Enqueue after commit: a task is sent only once the rows it will read are durable.

A rolled-back transaction sends nothing. A sent task that is lost (broker down, worker killed)
is re-discovered by the sweeper from the rows themselves, so nudges may be lost but work is not.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session, SessionTransaction

log = logging.getLogger(__name__)

_PENDING = "pending_tasks"


def enqueue_after_commit(session: Session, task_name: str, **kwargs: Any) -> None:
    """Send ``task_name(**kwargs)`` once this session's transaction commits."""
    savepoint = session.get_nested_transaction()
    session.info.setdefault(_PENDING, []).append((savepoint, task_name, kwargs))


@event.listens_for(Session, "after_commit")
def _send_pending(session: Session) -> None:
    # Releasing a savepoint fires after_commit too, but nothing is durable until the outermost
    # transaction commits: keep the tasks until then.
    if session.in_nested_transaction():
        return
    pending = session.info.pop(_PENDING, [])
    for _savepoint, task_name, kwargs in pending:
        enqueue_now(session.info.get("task_sender"), task_name, **kwargs)


def enqueue_now(
    sender: Callable[[str, dict[str, Any]], None] | None, task_name: str, **kwargs: Any
) -> None:
    """Send ``task_name(**kwargs)`` at once, for work already durable; never raises."""
    if sender is None:
        return
    try:
        sender(task_name, kwargs)
    except Exception:
        # The rows are committed; the sweeper will pick the work up. Never fail the caller.
        log.warning("could not enqueue %s; the sweeper will retry it", task_name, exc_info=True)


@event.listens_for(Session, "after_soft_rollback")
def _drop_pending(session: Session, previous_transaction: SessionTransaction) -> None:
    """Drop the tasks of the rolled-back work: a savepoint's own, or all for the outermost."""
    if not previous_transaction.nested:
        session.info.pop(_PENDING, None)
        return
    pending = session.info.get(_PENDING, [])
    session.info[_PENDING] = [
        entry for entry in pending if not _within(entry[0], previous_transaction)
    ]


def _within(savepoint: SessionTransaction | None, ended: SessionTransaction) -> bool:
    while savepoint is not None:
        if savepoint is ended:
            return True
        savepoint = savepoint.parent
    return False
