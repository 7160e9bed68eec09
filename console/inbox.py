"""The inbox: conversations by view, status and mark with their counts; one conversation with
its timeline, the composer (free reply or counted push, never twice), status, mark, assignee
and internal notes."""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from console.auth import CurrentStaff, DbSession, FormStaff, Staff, client_ip
from console.context import PREFIX, console_context, render
from core.ids import RowId
from crm.owners import shop_staff
from idlink.models import Friend, FriendStatus
from idlink.queries import find_friend
from inbox import conversations, library, notes, queries
from inbox.models import Conversation, ConversationStatus
from inbox.replies import ReplyConflict, ReplyIn, ReplyOut, Sticker, send_reply
from inbox.schemas import InboxFilters, NoteIn
from messaging.compose import library as template_library
from messaging.direct import TEXT_MAX, reply_is_free
from staff.permissions import Action

router = APIRouter()

# LINE's free stickers staff may send from the composer (package 446).
STICKERS = ("1988", "1989", "1990", "1991", "1992", "1993")


class ReplyForm(BaseModel):
    """The composer: a text (or ``/code``) or one of the offered stickers."""

    text: str | None = Field(None, max_length=TEXT_MAX)
    sticker: str | None = Field(None, pattern=r"^[0-9]{1,20}$")
    version: int = Field(ge=0)
    key: str = Field(pattern=r"^[A-Za-z0-9_-]{8,64}$")
    confirm: bool = False

    def reply(self) -> ReplyIn:
        sticker = Sticker(package_id="446", sticker_id=self.sticker) if self.sticker else None
        return ReplyIn(
            text=None if sticker else self.text,
            sticker=sticker,
            version=self.version,
            confirm=self.confirm,
            key=self.key,
        )


class StatusForm(BaseModel):
    status: ConversationStatus
    snoozed_until: datetime | None = None


def conversation_for(
    session: Session, staff: Staff, conversation_id: int, action: Action
) -> Conversation:
    staff.require(action)
    return queries.find_conversation(
        session, staff.shop.id, conversation_id, channel_scope=staff.channel_scope
    )


@router.get("/inbox")
def inbox_page(
    request: Request,
    staff: CurrentStaff,
    session: DbSession,
    filters: Annotated[InboxFilters, Query()],
) -> Response:
    """Conversations of a view (mine, unassigned, all), by status and mark, newest first."""
    staff.require(Action.READ_FRIENDS)
    page = queries.list_conversations(
        session,
        staff.shop.id,
        filters,
        staff_id=staff.user.id,
        channel_scope=staff.channel_scope,
    )
    return render(
        request,
        "inbox/list.html",
        {
            "page": page,
            "filters": filters,
            "marks": library.marks(session, staff.shop.id),
            "mentions": notes.unread_count(
                session, shop_id=staff.shop.id, staff_user_id=staff.user.id
            ),
        },
    )


@router.get("/friends/{friend_id}/conversation")
def friend_conversation(friend_id: RowId, staff: CurrentStaff, session: DbSession) -> Response:
    """From the chart to the friend's conversation (made on first need)."""
    staff.require(Action.READ_FRIENDS)
    friend = find_friend(session, staff.shop.id, friend_id, channel_scope=staff.channel_scope)
    conversation = conversations.conversation_of(session, friend)
    return RedirectResponse(f"{PREFIX}/inbox/conversations/{conversation.id}", status_code=303)


def conversation_view(
    request: Request,
    staff: Staff,
    session: Session,
    conversation: Conversation,
    *,
    status_code: int = 200,
    **extra: Any,
) -> Response:
    detail = queries.detail(session, conversation)
    friend = session.get_one(Friend, conversation.friend_id)
    settings = console_context(request).settings
    lifetime = timedelta(seconds=settings.reply_token_seconds)
    return render(
        request,
        "inbox/conversation.html",
        {
            "c": detail.conversation,
            "timeline": detail.timeline,
            "friend": friend,
            "reachable": friend.status == FriendStatus.FOLLOWED,
            "free": reply_is_free(session, friend, lifetime=lifetime),
            "reply_key": secrets.token_urlsafe(16),
            "stickers": STICKERS,
            "marks": library.marks(session, staff.shop.id),
            "canned": library.canned_replies(session, staff.shop.id),
            "templates": template_library.listed(session, staff.shop.id),
            "shop_staff": [email for _id, email in shop_staff(session, staff.shop.id)],
            "can_reply": staff.can(Action.SEND_MESSAGES),
            "can_handle": staff.can(Action.HANDLE_CONVERSATIONS),
            "statuses": list(ConversationStatus),
            "image_max_mb": f"{settings.reply_image_max_bytes / 1024 / 1024:g}",
            **extra,
        },
        status_code=status_code,
    )


@router.get("/inbox/conversations/{conversation_id}")
def conversation_page(
    request: Request, conversation_id: RowId, staff: CurrentStaff, session: DbSession
) -> Response:
    """The conversation; opening it marks it read (and tells LINE, on a channel that reads
    manually)."""
    conversation = conversation_for(session, staff, conversation_id, Action.READ_FRIENDS)
    conversations.mark_read(session, conversation, actor=staff.actor)
    return conversation_view(request, staff, session, conversation)


def _back(conversation: Conversation, anchor: str = "") -> Response:
    return RedirectResponse(
        f"{PREFIX}/inbox/conversations/{conversation.id}{anchor}", status_code=303
    )


@router.post("/inbox/conversations/{conversation_id}/replies")
def reply(
    request: Request,
    conversation_id: RowId,
    staff: FormStaff,
    session: DbSession,
    body: Annotated[ReplyForm, Form()],
) -> Response:
    """Send the reply; if someone answered meanwhile, show what they sent and ask first."""
    conversation = conversation_for(session, staff, conversation_id, Action.SEND_MESSAGES)
    settings = console_context(request).settings
    try:
        sent = send_reply(
            session,
            conversation=conversation,
            reply=body.reply(),
            actor=staff.actor,
            lifetime=timedelta(seconds=settings.reply_token_seconds),
            public_url=settings.public_url,
            ip=client_ip(request),
        )
    except ReplyConflict as conflict:
        return conversation_view(
            request,
            staff,
            session,
            conversation,
            status_code=409,
            conflict=conflict.sent,
            pending=body,
        )
    return after_sending(conversation, sent)


def after_sending(conversation: Conversation, sent: ReplyOut) -> Response:
    """Back to the conversation, saying how the reply went (free, counted, or already sent)."""
    done = "duplicate" if sent.duplicate else ("free" if sent.free else "push")
    return RedirectResponse(
        f"{PREFIX}/inbox/conversations/{conversation.id}?sent={done}#composer", status_code=303
    )


@router.post("/inbox/conversations/{conversation_id}/status")
def set_status(
    conversation_id: RowId,
    staff: FormStaff,
    session: DbSession,
    body: Annotated[StatusForm, Form()],
) -> Response:
    conversation = conversation_for(session, staff, conversation_id, Action.HANDLE_CONVERSATIONS)
    conversations.set_status(
        session,
        conversation,
        status=body.status,
        actor=staff.actor,
        snoozed_until=body.snoozed_until,
    )
    return _back(conversation)


@router.post("/inbox/conversations/{conversation_id}/assignee")
def assign(
    conversation_id: RowId,
    staff: FormStaff,
    session: DbSession,
    email: Annotated[str, Form(max_length=254)] = "",
) -> Response:
    conversation = conversation_for(session, staff, conversation_id, Action.HANDLE_CONVERSATIONS)
    conversations.assign(session, conversation, email=email or None, actor=staff.actor)
    return _back(conversation)


@router.post("/inbox/conversations/{conversation_id}/mark")
def set_mark(
    conversation_id: RowId,
    staff: FormStaff,
    session: DbSession,
    mark_id: Annotated[str, Form(max_length=9, pattern=r"^[0-9]*$")] = "",
) -> Response:
    conversation = conversation_for(session, staff, conversation_id, Action.HANDLE_CONVERSATIONS)
    chosen = int(mark_id) if mark_id else None
    conversations.set_mark(session, conversation, mark_id=chosen, actor=staff.actor)
    return _back(conversation)


@router.post("/inbox/conversations/{conversation_id}/notes")
def add_note(
    conversation_id: RowId,
    staff: FormStaff,
    session: DbSession,
    body: Annotated[NoteIn, Form()],
) -> Response:
    """An internal note; the staff it @mentions are notified."""
    conversation = conversation_for(session, staff, conversation_id, Action.WRITE_NOTES)
    notes.add_note(session, conversation=conversation, body=body, author=staff.actor)
    return _back(conversation, "#notes")
