"""``{{ field.KEY }}`` in a template: checked against the shop's fields, filled per friend."""

from __future__ import annotations

import pytest

from core.clock import utcnow
from core.db import Database
from core.tenancy import Channel
from crm import fields
from crm.field_schemas import FieldDefinitionIn
from idlink.models import Friend
from messaging.campaigns import campaigns
from messaging.campaigns.schemas import CampaignSpec
from messaging.compose import compose, templates
from messaging.compose.compose import Links, TemplateSend
from messaging.compose.templates import InvalidTemplate
from sandbox.line.server import SandboxServer
from tests.factories import ChannelSetup
from tests.messaging.support import add_followers, open_all_hours, wait_until_states
from tsunagu.hub import Hub

TEMPLATE = [
    {"type": "text", "text": "{{ display_name }}様 髪質:{{ field.hair }} DM:{{ field.dm_ok }}"}
]


def _define(db: Database, shop_id: int) -> None:
    with db.session_scope() as session:
        for spec in (
            FieldDefinitionIn(key="hair", label="髪質", type="choice", choices=["直毛", "くせ毛"]),
            FieldDefinitionIn(key="dm_ok", label="DM可", type="yes_no"),
        ):
            fields.define(session, shop_id=shop_id, spec=spec, actor="t")


def test_each_friend_receives_their_own_field_values_and_nothing_for_an_unset_one(
    db: Database, hub: Hub, line_sandbox: SandboxServer, channel: ChannelSetup
) -> None:
    open_all_hours(db, channel)
    _define(db, channel.shop_id)
    users = add_followers(db, line_sandbox.state, channel, 2)
    curly, unknown = sorted(users)
    with db.session_scope() as session:
        for friend_id in users:
            session.get_one(Friend, friend_id).display_name = f"友{friend_id}"
        friend = session.get_one(Friend, curly)
        fields.set_value(session, friend=friend, key="hair", value="くせ毛", actor="t")
        fields.set_value(session, friend=friend, key="dm_ok", value=True, actor="t")

    with db.session_scope() as session:
        send = TemplateSend(
            channel=session.get_one(Channel, channel.channel_pk),
            template=TEMPLATE,
            source="test:fields",
            links=Links(public_url=hub.settings.public_url),
            due_at=utcnow(),
        )
        compose.plan_template(
            session, send, friend_ids=users, idempotency_key_for=lambda f: f"test:fields:{f}"
        )
    wait_until_states(db, {"sent": 2}, source="test:fields")

    received = {
        friend_id: [m.message["text"] for m in line_sandbox.state.inbox(user)]
        for friend_id, user in users.items()
    }
    assert received == {
        curly: [f"友{curly}様 髪質:くせ毛 DM:はい"],
        unknown: [f"友{unknown}様 髪質: DM:"],
    }


def test_a_campaign_naming_a_field_the_shop_lacks_is_refused_with_the_fields_it_has(
    db: Database, channel: ChannelSetup
) -> None:
    _define(db, channel.shop_id)
    spec = CampaignSpec(
        name="typo",
        channel=channel.channel_id,
        kind="purchase",
        messages=[{"type": "text", "text": "{{ field.hiar }}"}],
    )
    with (
        db.session_scope() as session,
        pytest.raises(InvalidTemplate, match=r"field\.hiar .*fields: field\.dm_ok, field\.hair"),
    ):
        campaigns.save(
            session,
            shop_id=channel.shop_id,
            channel=session.get_one(Channel, channel.channel_pk),
            spec=spec,
            actor="t",
        )


def test_a_text_that_fits_only_with_short_field_values_is_refused() -> None:
    with pytest.raises(InvalidTemplate, match="longest"):
        templates.check(
            [{"type": "text", "text": "x" * 4600 + "{{ field.memo }}"}],
            available={*templates.FRIEND_VARIABLES, "field.memo"},
        )
