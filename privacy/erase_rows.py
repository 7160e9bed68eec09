"""The rows that are the person's own, erased: their friends and members cleared to markers,
what hangs off them deleted or cut (tags and their history, custom field values, notes, form
answers, tokens, throttles, the sites of their tracked links), and their LINE user id replaced
where it names who acted."""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.orm import Session

from core.audit import AuditLog
from crm.models import FriendFieldValue, FriendOwner, Note
from growth.forms.models import FormOpen, FormSubmission
from growth.models import RouteVisit
from idlink.media import lifecycle as media_lifecycle
from idlink.models import (
    ConversationMessage,
    FriendFollowEvent,
    FriendStatus,
    FriendTag,
    FriendTagEvent,
    LinkCode,
    LinkNonce,
    MemberLink,
    VerificationThrottle,
)
from idlink.verification import line_subject, member_subject
from inbox import erasure as inbox_erasure
from messaging.compose.models import LinkClick, TrackedLink
from messaging.outbox.models import ConsentRecord, Delivery, DeliveryState, ReplyToken
from messaging.rich_menus.models import FriendRichMenu
from messaging.sequences.models import Enrollment, EnrollmentState
from privacy import rich_menus as privacy_rich_menus
from privacy.people import Person
from privacy.search import ERASED_PAYLOAD

REASON = "the person's data was erased on request"
ERASED_URL = "about:blank"


def erased_marker(kind: str, row_id: int) -> str:
    """What replaces an identifier that must stay unique (a LINE user id, a member number)."""
    return f"erased:{kind}:{row_id}"


def erase_friend_rows(session: Session, person: Person, now: datetime) -> Counter[str]:
    counts: Counter[str] = Counter()
    friends = [f for f in person.friends if f.status != FriendStatus.ERASED]
    ids = [f.id for f in friends]
    if not ids:
        return counts
    user_ids = [f.line_user_id for f in friends]
    counts["rich_menu_unlinks"] = privacy_rich_menus.schedule(session, friends, now)
    for friend in friends:
        # A friend acting for themselves (linking in LIFF) is named by their user id.
        counts["actors"] += _replace_actor(session, person.shop_id, friend.line_user_id, friend.id)
        friend.line_user_id = erased_marker("friend", friend.id)
        friend.display_name = friend.picture_url = friend.status_message = None
        friend.language = friend.follow_route = None
        friend.status = FriendStatus.ERASED
        friend.status_changed_at = now
    counts["friends"] = len(ids)
    counts["media"] = media_lifecycle.erase_of_friends(session, ids)
    counts["conversation_messages"] = rowcount(
        session.execute(
            update(ConversationMessage)
            .where(ConversationMessage.friend_id.in_(ids))
            .values(text=None, payload=ERASED_PAYLOAD)
        )
    )
    counts["deliveries_cancelled"] = rowcount(
        session.execute(
            update(Delivery)
            .where(
                Delivery.friend_id.in_(ids),
                Delivery.state.in_([DeliveryState.PENDING, DeliveryState.HELD]),
            )
            .values(state=DeliveryState.CANCELLED, reason=REASON, updated_at=now)
        )
    )
    counts["enrollments_exited"] = rowcount(
        session.execute(
            update(Enrollment)
            .where(Enrollment.friend_id.in_(ids), Enrollment.state == EnrollmentState.ACTIVE)
            .values(
                state=EnrollmentState.EXITED,
                exit_reason="erased",
                next_due_at=None,
                next_position=None,
                finished_at=now,
            )
        )
    )
    links = select(TrackedLink.code).where(TrackedLink.friend_id.in_(ids))
    counts["tracked_links"] = _cut_link_urls(session, ids)
    counts["link_clicks"] = rowcount(
        session.execute(
            update(LinkClick)
            .where(LinkClick.code.in_(links), LinkClick.user_agent.is_not(None))
            .values(user_agent=None)
        )
    )
    for model, column in (
        (ReplyToken, ReplyToken.friend_id),
        (FriendTag, FriendTag.friend_id),
        (FriendTagEvent, FriendTagEvent.friend_id),
        (FriendFollowEvent, FriendFollowEvent.friend_id),
        (FriendFieldValue, FriendFieldValue.friend_id),
        (FriendRichMenu, FriendRichMenu.friend_id),
    ):
        counts[model.__tablename__] = rowcount(
            session.execute(delete(model).where(column.in_(ids)))
        )
    counts["notes"] = rowcount(session.execute(delete(Note).where(Note.friend_id.in_(ids))))
    counts.update(inbox_erasure.erase_of_friends(session, ids))
    counts["friend_owners"] = rowcount(
        session.execute(delete(FriendOwner).where(FriendOwner.friend_id.in_(ids)))
    )
    counts["note_texts_in_audit"] = _erase_note_texts(session, person.shop_id, ids)
    # The visits stay counted in their route's report; who made them does not.
    counts["route_visits"] = rowcount(
        session.execute(
            update(RouteVisit)
            .where(RouteVisit.shop_id == person.shop_id, RouteVisit.line_user_id.in_(user_ids))
            .values(line_user_id=None)
        )
    )
    # The answers go; the form's funnel still counts that someone opened it.
    counts["form_submissions"] = rowcount(
        session.execute(delete(FormSubmission).where(FormSubmission.friend_id.in_(ids)))
    )
    for friend_id, user_id in zip(ids, user_ids, strict=True):
        counts["form_opens"] += rowcount(
            session.execute(
                update(FormOpen)
                .where(FormOpen.shop_id == person.shop_id, FormOpen.line_user_id == user_id)
                .values(line_user_id=erased_marker("friend", friend_id), friend_id=None)
            )
        )
    counts["link_nonces"] = rowcount(
        session.execute(delete(LinkNonce).where(LinkNonce.line_user_id.in_(user_ids)))
    )
    counts["verification_throttles"] = rowcount(
        session.execute(
            delete(VerificationThrottle).where(
                VerificationThrottle.shop_id == person.shop_id,
                VerificationThrottle.subject.in_([line_subject(u) for u in user_ids]),
            )
        )
    )
    return counts


def site_of(url: str) -> str:
    """Only the site of a link (``https://shop.example.jp/``): its path and query may carry a
    personal token, an email or a coupon made for the person."""
    parts = urlsplit(url)
    if not parts.scheme or not parts.netloc:
        return ERASED_URL
    return f"{parts.scheme}://{parts.hostname or ''}/"


def _cut_link_urls(session: Session, friend_ids: list[int]) -> int:
    """Cut the friends' tracked links to their sites; the clicks still count."""
    changed = 0
    for link in session.scalars(select(TrackedLink).where(TrackedLink.friend_id.in_(friend_ids))):
        cut = site_of(link.url)
        if cut != link.url:
            link.url = cut
            changed += 1
    return changed


# What staff wrote about a friend is theirs to erase too: the notes' texts and the custom field
# values kept in the audit log.
NOTE_TEXTS = ("body", "before", "value")


def _erase_note_texts(session: Session, shop_id: int, friend_ids: list[int]) -> int:
    """Replace the note texts that the audit log keeps about these friends; how many entries."""
    entries = session.scalars(
        select(AuditLog).where(
            AuditLog.shop_id == shop_id,
            AuditLog.subject_type == "friend",
            AuditLog.subject_id.in_([str(i) for i in friend_ids]),
            or_(
                AuditLog.action.startswith("friend.note_"),
                AuditLog.action.startswith("friend.field_"),
            ),
        )
    )
    erased = 0
    for entry in entries:
        if any(key in entry.detail for key in NOTE_TEXTS):
            entry.detail = {
                key: "(erased)" if key in NOTE_TEXTS else value
                for key, value in entry.detail.items()
            }
            erased += 1
    return erased


def erase_member_rows(session: Session, person: Person, now: datetime) -> Counter[str]:
    counts: Counter[str] = Counter()
    members = [m for m in person.members if m.member_number != erased_marker("member", m.id)]
    ids = [m.id for m in members]
    if not ids:
        return counts
    numbers = [m.member_number for m in members]
    for member in members:
        member.member_number = erased_marker("member", member.id)
        member.name = member.email = member.phone = member.birth_date = None
        member.email_index = member.phone_index = member.pin_hash = None
        member.attributes = {}
    counts["members"] = len(ids)
    counts["member_links_ended"] = rowcount(
        session.execute(
            update(MemberLink)
            .where(MemberLink.member_id.in_(ids), MemberLink.unlinked_at.is_(None))
            .values(unlinked_at=now, unlinked_by="privacy", unlink_reason="erased")
        )
    )
    counts["link_codes"] = rowcount(
        session.execute(delete(LinkCode).where(LinkCode.member_id.in_(ids)))
    )
    counts["link_nonces"] += rowcount(
        session.execute(delete(LinkNonce).where(LinkNonce.member_id.in_(ids)))
    )
    counts["verification_throttles"] += rowcount(
        session.execute(
            delete(VerificationThrottle).where(
                VerificationThrottle.shop_id == person.shop_id,
                VerificationThrottle.subject.in_([member_subject(n) for n in numbers]),
            )
        )
    )
    return counts


def _replace_actor(session: Session, shop_id: int, user_id: str, friend_id: int) -> int:
    marker = erased_marker("friend", friend_id)
    changed = 0
    for column in (
        AuditLog.actor,
        MemberLink.linked_by,
        MemberLink.unlinked_by,
        ConsentRecord.recorded_by,
    ):
        model = column.class_
        changed += rowcount(
            session.execute(
                update(model)
                .where(model.shop_id == shop_id, column.contains(user_id, autoescape=True))
                .values({column.key: func.replace(column, user_id, marker)})
            )
        )
    return changed


def rowcount(result: Any) -> int:
    return int(result.rowcount or 0)
