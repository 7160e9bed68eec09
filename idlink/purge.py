"""Housekeeping of the linking flows: rows that can no longer do anything are deleted.

Nonces and link codes past their expiry can never be accepted again; a throttle whose window
ended and whose lock (if any) ran out counts nothing any more. Run by the ``idlink.purge`` job.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, or_
from sqlalchemy.orm import Session

from config import Settings
from core.db import rows_matched
from idlink.models import LinkCode, LinkNonce, VerificationThrottle
from idlink.verification import NONCE_REQUEST_WINDOW


def purge_expired(session: Session, *, settings: Settings, now: datetime) -> dict[str, int]:
    """Delete expired nonces and link codes and finished throttles; how many of each."""
    window = max(timedelta(seconds=settings.link_failure_window_seconds), NONCE_REQUEST_WINDOW)
    statements = {
        "nonces": delete(LinkNonce).where(LinkNonce.expires_at < now),
        "link_codes": delete(LinkCode).where(LinkCode.expires_at < now),
        "throttles": delete(VerificationThrottle).where(
            VerificationThrottle.window_started_at < now - window,
            or_(
                VerificationThrottle.locked_until.is_(None),
                VerificationThrottle.locked_until < now,
            ),
        ),
    }
    return {
        name: rows_matched(
            session.execute(statement, execution_options={"synchronize_session": False})
        )
        for name, statement in statements.items()
    }
