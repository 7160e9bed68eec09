"""The owner of a friend (担当者): a staff member of the shop, set and cleared with an audit."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from core.audit import AuditLog
from core.db import Database
from core.tenancy import Shop
from crm import owners
from idlink.models import Friend
from staff.models import Role
from tests.api.admin_support import add_friend
from tests.console.support import add_staff
from tests.factories import ChannelSetup, make_shop

pytestmark = pytest.mark.fast


def test_an_owner_is_set_changed_and_cleared_with_an_audit_each_time(
    db: Database, shop: Shop, channel: ChannelSetup
) -> None:
    friend_id = add_friend(db, channel.channel_pk, "U" + "1" * 32)
    add_staff(db, shop, "aoi@example.jp", Role.OPERATOR)
    add_staff(db, shop, "ken@example.jp", Role.VIEWER)

    with db.session_scope() as session:
        friend = session.get_one(Friend, friend_id)
        owners.set_owner(session, friend=friend, email="AOI@example.jp", actor="staff:x")
        owners.set_owner(session, friend=friend, email="aoi@example.jp", actor="staff:x")
        owners.set_owner(session, friend=friend, email="ken@example.jp", actor="staff:x")
        assert owners.owner_of(session, friend) == "ken@example.jp"
        owners.set_owner(session, friend=friend, email=None, actor="staff:x")
        assert owners.owner_of(session, friend) is None

    with db.session_scope() as session:
        changes = [
            (e.detail["before"], e.detail["owner"])
            for e in session.scalars(select(AuditLog).order_by(AuditLog.id))
        ]
    assert changes == [
        (None, "aoi@example.jp"),
        ("aoi@example.jp", "ken@example.jp"),
        ("ken@example.jp", None),
    ]


def test_staff_of_another_shop_cannot_own_the_friend(
    db: Database, shop: Shop, channel: ChannelSetup
) -> None:
    friend_id = add_friend(db, channel.channel_pk, "U" + "1" * 32)
    add_staff(db, make_shop(db), "other@example.jp", Role.OWNER)

    with db.session_scope() as session, pytest.raises(owners.NotShopStaff):
        owners.set_owner(
            session,
            friend=session.get_one(Friend, friend_id),
            email="other@example.jp",
            actor="staff:x",
        )
