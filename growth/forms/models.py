"""Forms, the friends who opened them, and every submission (the answers encrypted at rest)."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from core.clock import utcnow
from core.crypto import EncryptedText
from core.db import Base


class Policy(enum.StrEnum):
    # One answer per friend; a second is refused.
    ONCE = "once"
    # One answer per friend, which they may change: each change is kept, the latest counts.
    EDITABLE = "editable"
    # As many answers as the friend sends (an order form, a daily check): each counts.
    MANY = "many"


class Form(Base):
    """A shop's form: its questions (``growth.forms.questions.Question``), its answer policy
    and dates, what a submission does, and the code of its LIFF page (``/f/{code}``)."""

    __tablename__ = "forms"
    __table_args__ = (UniqueConstraint("shop_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id"), index=True)
    channel_id: Mapped[int] = mapped_column(ForeignKey("channels.id"))
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(64))
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)
    questions: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    # [{"kind": "tag", "target": "answered"}, ...] (growth.forms.schemas.FormAction)
    actions: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    policy: Mapped[str] = mapped_column(String(16), default=Policy.ONCE)
    opens_at: Mapped[datetime | None]
    closes_at: Mapped[datetime | None]
    thanks: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class FormOpen(Base):
    """The form's page opened by a LINE user the hub identified (a verified ID token): the
    funnel's first step."""

    __tablename__ = "form_opens"
    __table_args__ = (Index("ix_form_opens_form_at", "form_id", "opened_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id"))
    form_id: Mapped[int] = mapped_column(ForeignKey("forms.id", ondelete="CASCADE"))
    line_user_id: Mapped[str | None] = mapped_column(String(33))
    friend_id: Mapped[int | None] = mapped_column(ForeignKey("friends.id"))
    opened_at: Mapped[datetime]


class FormSubmission(Base):
    """One submission, kept even when a later one replaces it (the chart shows the history)."""

    __tablename__ = "form_submissions"
    __table_args__ = (
        Index("ix_form_submissions_form_id", "form_id", "id"),
        Index("ix_form_submissions_friend_form_at", "friend_id", "form_id", "submitted_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id"))
    form_id: Mapped[int] = mapped_column(ForeignKey("forms.id", ondelete="CASCADE"))
    friend_id: Mapped[int] = mapped_column(ForeignKey("friends.id"))
    # The answers as JSON ({question key: text, or a list of choices}), encrypted: a form asks
    # for emails, phone numbers, addresses.
    answers: Mapped[str] = mapped_column(EncryptedText)
    language: Mapped[str] = mapped_column(String(8))
    # What the mapping and the actions did ("tag 美容: added", ...), as staff read it.
    outcome: Mapped[list[str]] = mapped_column(JSON, default=list)
    submitted_at: Mapped[datetime]
