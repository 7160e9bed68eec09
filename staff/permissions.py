"""What each role may do: the one table every console page and action is checked against."""

from __future__ import annotations

import enum

from core.errors import Forbidden
from staff.models import Role


class Action(enum.StrEnum):
    READ_FRIENDS = "friends.read"
    READ_MEMBER_PERSONAL = "members.read_personal"
    TAG_FRIENDS = "friends.tag"
    WRITE_NOTES = "notes.write"
    ASSIGN_OWNER = "friends.assign_owner"
    EXPORT_FRIENDS = "friends.export"
    WRITE_FIELDS = "fields.write"
    MANAGE_FIELDS = "fields.manage"
    SEND_MESSAGES = "messages.send"
    HANDLE_CONVERSATIONS = "conversations.handle"
    MANAGE_INBOX = "inbox.manage"
    MANAGE_CAMPAIGNS = "campaigns.manage"
    MANAGE_SEGMENTS = "segments.manage"
    MANAGE_SEQUENCES = "sequences.manage"
    MANAGE_REMINDERS = "reminders.manage"
    MANAGE_TAGS = "tags.manage"
    MANAGE_AUTO_REPLIES = "auto_replies.manage"
    MANAGE_ROUTES = "routes.manage"
    MANAGE_FORMS = "forms.manage"
    MANAGE_STAFF = "staff.manage"
    MANAGE_CHANNELS = "channels.manage"
    MANAGE_CONNECTIONS = "connections.manage"
    MANAGE_TOKENS = "tokens.manage"
    EXPORT_DATA = "data.export"
    ERASE_DATA = "data.erase"


# The lowest role allowed each action; a role includes every role below it.
MINIMUM_ROLE: dict[Action, Role] = {
    Action.READ_FRIENDS: Role.VIEWER,
    Action.READ_MEMBER_PERSONAL: Role.OPERATOR,
    Action.TAG_FRIENDS: Role.OPERATOR,
    Action.WRITE_NOTES: Role.OPERATOR,
    Action.ASSIGN_OWNER: Role.OPERATOR,
    Action.EXPORT_FRIENDS: Role.OPERATOR,
    Action.WRITE_FIELDS: Role.OPERATOR,
    Action.MANAGE_FIELDS: Role.ADMIN,
    Action.SEND_MESSAGES: Role.OPERATOR,
    Action.HANDLE_CONVERSATIONS: Role.OPERATOR,
    Action.MANAGE_INBOX: Role.ADMIN,
    Action.MANAGE_CAMPAIGNS: Role.ADMIN,
    Action.MANAGE_SEGMENTS: Role.ADMIN,
    Action.MANAGE_SEQUENCES: Role.ADMIN,
    Action.MANAGE_REMINDERS: Role.ADMIN,
    Action.MANAGE_TAGS: Role.ADMIN,
    Action.MANAGE_AUTO_REPLIES: Role.ADMIN,
    Action.MANAGE_ROUTES: Role.ADMIN,
    Action.MANAGE_FORMS: Role.ADMIN,
    Action.MANAGE_STAFF: Role.ADMIN,
    Action.MANAGE_CHANNELS: Role.OWNER,
    Action.MANAGE_CONNECTIONS: Role.OWNER,
    Action.MANAGE_TOKENS: Role.OWNER,
    Action.EXPORT_DATA: Role.OWNER,
    Action.ERASE_DATA: Role.OWNER,
}

RANK = {Role.VIEWER: 0, Role.OPERATOR: 1, Role.ADMIN: 2, Role.OWNER: 3}


class NotAllowed(Forbidden):
    """The staff member's role does not allow the action; the detail names the role needed."""

    def __init__(self, role: Role, action: Action) -> None:
        self.role = role
        self.action = action
        self.needed = MINIMUM_ROLE[action]
        super().__init__(
            f"{action.value} needs the {self.needed.value} role or above; you are {role.value}"
        )


def allows(role: Role, action: Action) -> bool:
    return RANK[role] >= RANK[MINIMUM_ROLE[action]]


def require(role: Role, action: Action) -> None:
    """Raise NotAllowed (403, with the role needed) unless ``role`` may do ``action``."""
    if not allows(role, action):
        raise NotAllowed(role, action)
