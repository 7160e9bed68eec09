"""What linking a LINE friend to a member can refuse, each error saying what to do next."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from config import Settings
from core import audit
from core.errors import Conflict, Forbidden, HubError, NotFound, TooManyAttempts, Unauthorized


class LineUnavailable(HubError):
    """LINE could not be reached or answered with a server error; nothing was changed."""

    status_code = 503


class IdTokenRejected(Unauthorized):
    """The LINE ID token is not genuine, not for this channel, or no longer valid."""


class IdTokenExpired(IdTokenRejected):
    """The ID token's ``exp`` has passed."""


class IdTokenWrongAudience(IdTokenRejected):
    """The ID token was issued for another LINE Login channel."""


class IdTokenReplayed(IdTokenRejected):
    """The ID token's nonce was already used (or never issued by this hub)."""


class NotAFriend(Forbidden):
    """The LINE user has not added the shop's account as a friend."""


class LinkNotFound(NotFound):
    """There is no active link to act on."""


class RecordedFailure(HubError):
    """A refusal whose trace must outlive the rolled-back work: the caller records it.

    The caller rolls back what the attempt changed, calls :meth:`record` in its transaction,
    commits, and reports the error :meth:`record` returns.
    """

    def record(self, session: Session, *, settings: Settings, now: datetime) -> HubError:
        """Write the trace of this refusal; return the error to report."""
        raise NotImplementedError


class VerificationLocked(TooManyAttempts):
    """Too many failed verifications for this member number or LINE user; retry later."""

    def __init__(self, until: datetime) -> None:
        super().__init__(
            "Too many failed attempts. For your security, linking is paused until "
            f"{until:%Y-%m-%d %H:%M} UTC; please try again after that, or ask the shop."
        )
        self.until = until


class LinkRefused(RecordedFailure, Conflict):
    """The member (or the friend) is already linked and the shop's policy refuses a new link."""

    MEMBER_TAKEN = (
        "This membership is already linked to another LINE account. Unlink it there first "
        "(member card → Unlink), or ask the shop to unlink it."
    )
    FRIEND_TAKEN = (
        "This LINE account is already linked to another membership. Unlink it first "
        "(member card → Unlink), then link again."
    )

    def __init__(
        self,
        detail: str,
        *,
        shop_id: int,
        member_id: int,
        friend_id: int,
        existing_link_id: int,
        actor: str,
    ) -> None:
        super().__init__(detail)
        self.shop_id = shop_id
        self.member_id = member_id
        self.friend_id = friend_id
        self.existing_link_id = existing_link_id
        self.actor = actor

    def record(self, session: Session, *, settings: Settings, now: datetime) -> HubError:
        audit.record(
            session,
            shop_id=self.shop_id,
            actor=self.actor,
            action="idlink.link_refused",
            subject_type="member",
            subject_id=self.member_id,
            now=now,
            friend_id=self.friend_id,
            existing_link_id=self.existing_link_id,
        )
        return self
