"""Staff accounts, their roles per shop, their server-side sessions and sign-in throttles."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import JSON, Boolean, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.clock import utcnow
from core.crypto import EncryptedText
from core.db import Base


class Role(enum.StrEnum):
    """What a staff member may do in one shop, each role including the ones below it."""

    VIEWER = "viewer"
    OPERATOR = "operator"
    ADMIN = "admin"
    OWNER = "owner"


class Locale(enum.StrEnum):
    JA = "ja"
    EN = "en"


class StaffUser(Base):
    """A person who signs in to the console. Only an argon2id hash of the password is kept; the
    TOTP secret is encrypted, and is in use once ``totp_enabled_at`` is set (before, it is an
    enrolment waiting for its first code)."""

    __tablename__ = "staff_users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    password_hash: Mapped[str | None] = mapped_column(String(200))
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    locale: Mapped[str] = mapped_column(String(8), default=Locale.JA)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    password_changed_at: Mapped[datetime | None]
    totp_secret: Mapped[str | None] = mapped_column(EncryptedText)
    totp_enabled_at: Mapped[datetime | None]
    # The last time step a code was accepted for: a code is good once.
    totp_last_step: Mapped[int | None]

    roles: Mapped[list[StaffRole]] = relationship(
        back_populates="user", cascade="all, delete-orphan", order_by="StaffRole.id"
    )


class StaffRole(Base):
    """A staff member's role in one shop; ``channel_ids`` (LINE channel ids) limits it to those
    channels' friends, for chain-store staff."""

    __tablename__ = "staff_roles"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("staff_users.id", ondelete="CASCADE"))
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id"), index=True)
    role: Mapped[str] = mapped_column(String(16))
    channel_ids: Mapped[list[str] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    user: Mapped[StaffUser] = relationship(back_populates="roles")

    __table_args__ = (UniqueConstraint("user_id", "shop_id"),)


class StaffSession(Base):
    """A signed-in browser. The cookie holds a random token; only its SHA-256 is stored."""

    __tablename__ = "staff_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(
        ForeignKey("staff_users.id", ondelete="CASCADE"), index=True
    )
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    ip: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(Text)
    revoked_at: Mapped[datetime | None]
    # Password checked, second factor still to come: such a session opens nothing.
    second_factor_pending: Mapped[bool] = mapped_column(Boolean, default=False)

    user: Mapped[StaffUser] = relationship()


class RecoveryCode(Base):
    """A single-use code for signing in without the authenticator; only a keyed hash is kept."""

    __tablename__ = "staff_recovery_codes"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(
        ForeignKey("staff_users.id", ondelete="CASCADE"), index=True
    )
    code_hash: Mapped[str] = mapped_column(String(64))
    used_at: Mapped[datetime | None]


class PasswordLink(Base):
    """A one-time link to set a password (new account, reset); only its SHA-256 is stored."""

    __tablename__ = "staff_password_links"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("staff_users.id", ondelete="CASCADE"))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]


class SignInThrottle(Base):
    """Failed sign-ins per subject (``account:<email>``, ``address:<ip>``) in a window."""

    __tablename__ = "staff_sign_in_throttles"

    id: Mapped[int] = mapped_column(primary_key=True)
    subject: Mapped[str] = mapped_column(String(300), unique=True)
    failures: Mapped[int] = mapped_column(default=0)
    window_started_at: Mapped[datetime] = mapped_column(default=utcnow)
    locked_until: Mapped[datetime | None]
