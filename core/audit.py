"""The audit ledger: who did what to which record, and when. Rows are only ever added."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, String
from sqlalchemy.orm import Mapped, Session, mapped_column

from core.clock import utcnow
from core.db import Base


class AuditLog(Base):
    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id"), index=True)
    actor: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(64), index=True)
    subject_type: Mapped[str] = mapped_column(String(64))
    subject_id: Mapped[str] = mapped_column(String(64))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


def record(
    session: Session,
    *,
    shop_id: int,
    actor: str,
    action: str,
    subject_type: str,
    subject_id: object,
    now: datetime | None = None,
    **detail: Any,
) -> AuditLog:
    """Append an audit record in the caller's transaction."""
    entry = AuditLog(
        shop_id=shop_id,
        actor=actor,
        action=action,
        subject_type=subject_type,
        subject_id=str(subject_id),
        detail=detail,
        created_at=now or utcnow(),
    )
    session.add(entry)
    return entry


def record_written(
    session: Session,
    *,
    shop_id: int,
    actor: str,
    subject_type: str,
    subject_id: object,
    created: bool,
    now: datetime | None = None,
    **detail: Any,
) -> AuditLog:
    """Audit a declared object written: ``<subject_type>.created`` the first time,
    ``<subject_type>.updated`` after."""
    action = f"{subject_type}.{'created' if created else 'updated'}"
    return record(
        session,
        shop_id=shop_id,
        actor=actor,
        action=action,
        subject_type=subject_type,
        subject_id=subject_id,
        now=now,
        **detail,
    )
