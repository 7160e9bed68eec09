"""The chat inbox for scripts: conversations, their status, mark and assignee, staff replies
(never twice), notes, the shop's marks and canned replies, and the per-staff report."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query

from api.admin.auth import Actor
from api.admin.schemas import ErrorBody
from api.deps import AppSettings, CurrentShop, DbSession
from core.clock import utcnow
from core.ids import RowId
from idlink.queries import find_friend
from inbox import conversations, library, notes, queries
from inbox.replies import ReplyIn, ReplyOut, send_reply
from inbox.schemas import (
    AssignIn,
    CannedIn,
    CannedOut,
    ConversationDetail,
    ConversationOut,
    ConversationPage,
    InboxFilters,
    MarkChoiceIn,
    MarkIn,
    MarkOut,
    NoteIn,
    NoteOut,
    ReadSettingsIn,
    StaffFigures,
    StatusIn,
)

router = APIRouter(tags=["inbox"])

NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorBody, "description": "No such conversation in this shop"}
}
REPLY_CONFLICT: dict[int | str, dict[str, Any]] = {
    409: {
        "model": ErrorBody,
        "description": "`ReplyConflict`: someone answered since `version` (the detail says "
        "what was sent; send again with `confirm: true`), or `FriendNotReachable`",
    },
}


def _conversation(session: DbSession, shop_id: int, conversation_id: int) -> Any:
    return queries.find_conversation(session, shop_id, conversation_id)


@router.get("/conversations", summary="List conversations")
def list_conversations(
    session: DbSession, shop: CurrentShop, filters: Annotated[InboxFilters, Query()]
) -> ConversationPage:
    """Newest activity first, with the counts of unresolved conversations per view and of the
    view's conversations per status and mark. A token has no conversations of its own: `mine`
    is empty."""
    return queries.list_conversations(session, shop.id, filters)


@router.get(
    "/friends/{friend_id}/conversation",
    summary="A friend's conversation",
    responses={404: {"model": ErrorBody, "description": "`FriendNotFound`: no such friend"}},
)
def friend_conversation(friend_id: RowId, session: DbSession, shop: CurrentShop) -> ConversationOut:
    """The friend's conversation (made, new, on first ask)."""
    friend = find_friend(session, shop.id, friend_id)
    return queries.render(session, [conversations.conversation_of(session, friend)])[0]


@router.get(
    "/conversations/{conversation_id}",
    summary="A conversation and its timeline",
    responses=NOT_FOUND,
)
def get_conversation(
    conversation_id: RowId, session: DbSession, shop: CurrentShop
) -> ConversationDetail:
    """The friend's messages and postbacks, everything the hub sent them (with its source:
    staff, api, campaign, sequence, reminder, auto_reply), notes and changes, oldest first.
    Its `version` is what a reply must carry."""
    return queries.detail(session, _conversation(session, shop.id, conversation_id))


@router.post(
    "/conversations/{conversation_id}/read", summary="Mark a conversation read", responses=NOT_FOUND
)
def read_conversation(
    conversation_id: RowId, session: DbSession, shop: CurrentShop, actor: Actor
) -> ConversationOut:
    """Read now; on a channel that reads manually, LINE is told with the friend's token."""
    conversation = _conversation(session, shop.id, conversation_id)
    conversations.mark_read(session, conversation, actor=actor)
    return queries.render(session, [conversation])[0]


@router.put(
    "/conversations/{conversation_id}/status",
    summary="Set a conversation's status",
    responses={**NOT_FOUND, 400: {"model": ErrorBody, "description": "`SnoozeNeedsTime`"}},
)
def set_status(
    conversation_id: RowId, body: StatusIn, session: DbSession, shop: CurrentShop, actor: Actor
) -> ConversationOut:
    """new, open, resolved, or snoozed (until `snoozed_until`, else the friend's next message).
    Resolving records the time to resolve; every change is logged with the token's name."""
    conversation = _conversation(session, shop.id, conversation_id)
    conversations.set_status(
        session, conversation, status=body.status, actor=actor, snoozed_until=body.snoozed_until
    )
    return queries.render(session, [conversation])[0]


@router.put(
    "/conversations/{conversation_id}/assignee",
    summary="Assign a conversation",
    responses={**NOT_FOUND, 400: {"model": ErrorBody, "description": "`NotShopStaff`"}},
)
def assign(
    conversation_id: RowId, body: AssignIn, session: DbSession, shop: CurrentShop, actor: Actor
) -> ConversationOut:
    """To a staff member of the shop by email, or to nobody (null)."""
    conversation = _conversation(session, shop.id, conversation_id)
    conversations.assign(session, conversation, email=body.email, actor=actor)
    return queries.render(session, [conversation])[0]


@router.put(
    "/conversations/{conversation_id}/mark", summary="Mark a conversation", responses=NOT_FOUND
)
def set_mark(
    conversation_id: RowId, body: MarkChoiceIn, session: DbSession, shop: CurrentShop, actor: Actor
) -> ConversationOut:
    """Put one of the shop's marks on it, or take it off (null)."""
    conversation = _conversation(session, shop.id, conversation_id)
    conversations.set_mark(session, conversation, mark_id=body.mark_id, actor=actor)
    return queries.render(session, [conversation])[0]


@router.post(
    "/conversations/{conversation_id}/replies",
    summary="Reply in a conversation",
    status_code=201,
    responses={**NOT_FOUND, **REPLY_CONFLICT},
)
def reply(
    conversation_id: RowId,
    body: ReplyIn,
    session: DbSession,
    shop: CurrentShop,
    actor: Actor,
    settings: AppSettings,
) -> ReplyOut:
    """A text or sticker through the outbox: a free reply with the friend's fresh reply token,
    else a counted push. The same `key` again sends nothing twice."""
    conversation = _conversation(session, shop.id, conversation_id)
    return send_reply(
        session,
        conversation=conversation,
        reply=body,
        actor=actor,
        lifetime=timedelta(seconds=settings.reply_token_seconds),
        public_url=settings.public_url,
    )


@router.post(
    "/conversations/{conversation_id}/notes",
    summary="Add an internal note",
    status_code=201,
    responses=NOT_FOUND,
)
def add_note(
    conversation_id: RowId, body: NoteIn, session: DbSession, shop: CurrentShop, actor: Actor
) -> NoteOut:
    """Never sent to the friend; each staff member it @mentions is notified."""
    conversation = _conversation(session, shop.id, conversation_id)
    return notes.add_note(session, conversation=conversation, body=body, author=actor)


@router.get("/inbox/marks", summary="List the shop's marks")
def list_marks(session: DbSession, shop: CurrentShop) -> list[MarkOut]:
    return library.marks(session, shop.id)


@router.post(
    "/inbox/marks",
    summary="Create a mark",
    status_code=201,
    responses={409: {"model": ErrorBody, "description": "`NameTaken`"}},
)
def create_mark(body: MarkIn, session: DbSession, shop: CurrentShop, actor: Actor) -> MarkOut:
    return library.add_mark(session, shop_id=shop.id, body=body, actor=actor)


@router.delete(
    "/inbox/marks/{mark_id}",
    summary="Delete a mark",
    status_code=204,
    responses={404: {"model": ErrorBody, "description": "No such mark"}},
)
def delete_mark(mark_id: RowId, session: DbSession, shop: CurrentShop, actor: Actor) -> None:
    """Conversations that had it keep their status, without a mark."""
    library.delete_mark(session, shop_id=shop.id, mark_id=mark_id, actor=actor)


@router.get("/inbox/canned-replies", summary="List canned replies")
def list_canned(session: DbSession, shop: CurrentShop) -> list[CannedOut]:
    return library.canned_replies(session, shop.id)


@router.put("/inbox/canned-replies", summary="Create or change a canned reply")
def save_canned(body: CannedIn, session: DbSession, shop: CurrentShop, actor: Actor) -> CannedOut:
    """A reply of exactly `/code` sends its body, its `{{ variables }}` filled for the friend as
    message templates are (`{name}` and `{shop}` are short forms of `{{ display_name }}` and
    `{{ shop_name }}`). Refused (422, `InvalidTemplate`), nothing saved, when a variable is
    unknown or not a field of the shop, or when LINE would refuse the text with every variable at
    its longest."""
    return library.save_canned(session, shop_id=shop.id, body=body, actor=actor)


@router.delete(
    "/inbox/canned-replies/{code}",
    summary="Delete a canned reply",
    status_code=204,
    responses={404: {"model": ErrorBody, "description": "No such canned reply"}},
)
def delete_canned(
    code: Annotated[str, Path(pattern=r"^[a-z0-9_-]{1,32}$")],
    session: DbSession,
    shop: CurrentShop,
    actor: Actor,
) -> None:
    library.delete_canned(session, shop_id=shop.id, code=code, actor=actor)


@router.put(
    "/inbox/channels/{line_channel_id}",
    summary="Set how a channel's chats are read",
    responses={404: {"model": ErrorBody, "description": "No such channel"}},
)
def set_read_mode(
    line_channel_id: str, body: ReadSettingsIn, session: DbSession, shop: CurrentShop, actor: Actor
) -> ReadSettingsIn:
    library.set_read_manually(
        session,
        shop_id=shop.id,
        line_channel_id=line_channel_id[:32],
        read_manually=body.read_manually,
        actor=actor,
    )
    return body


@router.get("/inbox/report", summary="Per-staff reply and resolve times")
def report(
    session: DbSession,
    shop: CurrentShop,
    since: datetime | None = None,
    until: datetime | None = None,
) -> list[StaffFigures]:
    """First replies and resolutions in the period (default: the last 30 days), per staff
    member, with the median seconds each took."""
    end = until or utcnow()
    return queries.staff_report(
        session, shop.id, since=since or end - timedelta(days=30), until=end
    )
