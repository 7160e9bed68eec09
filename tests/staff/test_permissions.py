"""The one permission table: every role against every action, allowed or refused with a reason."""

from __future__ import annotations

import pytest

from staff.models import Role
from staff.permissions import MINIMUM_ROLE, Action, NotAllowed, allows, require

EXPECTED = {
    Role.VIEWER: {Action.READ_FRIENDS},
    Role.OPERATOR: {
        Action.READ_FRIENDS,
        Action.READ_MEMBER_PERSONAL,
        Action.TAG_FRIENDS,
        Action.WRITE_NOTES,
        Action.ASSIGN_OWNER,
        Action.WRITE_FIELDS,
        Action.SEND_MESSAGES,
        Action.HANDLE_CONVERSATIONS,
        Action.EXPORT_FRIENDS,
    },
}
EXPECTED[Role.ADMIN] = EXPECTED[Role.OPERATOR] | {
    Action.MANAGE_CAMPAIGNS,
    Action.MANAGE_SEGMENTS,
    Action.MANAGE_SEQUENCES,
    Action.MANAGE_REMINDERS,
    Action.MANAGE_TAGS,
    Action.MANAGE_AUTO_REPLIES,
    Action.MANAGE_ROUTES,
    Action.MANAGE_FORMS,
    Action.MANAGE_FIELDS,
    Action.MANAGE_STAFF,
    Action.MANAGE_INBOX,
}
EXPECTED[Role.OWNER] = set(Action)


def test_every_action_has_a_minimum_role() -> None:
    assert set(MINIMUM_ROLE) == set(Action)


@pytest.mark.parametrize("role", list(Role))
@pytest.mark.parametrize("action", list(Action))
def test_role_and_action(role: Role, action: Action) -> None:
    if action in EXPECTED[role]:
        assert allows(role, action)
        require(role, action)
        return
    assert not allows(role, action)
    with pytest.raises(NotAllowed) as refused:
        require(role, action)
    assert refused.value.status_code == 403
    assert MINIMUM_ROLE[action].value in refused.value.detail
    assert role.value in refused.value.detail
