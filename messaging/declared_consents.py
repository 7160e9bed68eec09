"""Consent declared in a ``tsunagu apply`` file: what friends agreed to elsewhere (a paper form,
the tool the shop used before), recorded in the consent ledger as from ``import`` unless the
entry says where::

    consents:
      - channel: "1650000001"
        line_user_id: U4af4980629…
        purpose: marketing
        granted: false

An entry is unchanged while the friend's latest record for the purpose says the same; else
applying it appends a record (a withdrawal suppresses pending sends, as from the API).
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, model_validator
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.errors import NotFound
from core.tenancy import Channel
from idlink.models import Friend
from messaging.compose.schemas import NamedSpec
from messaging.outbox import consent
from messaging.outbox.consent import ConsentSource, Purpose


class ConsentSpec(NamedSpec):
    """One friend's consent to one purpose; its name is ``channel:user id:purpose``."""

    name: str = Field("", description="Set from the other fields; need not be written.")
    channel: str = Field(min_length=1, max_length=32, description="The LINE channel ID.")
    line_user_id: str = Field(pattern=r"^U[0-9a-f]{32}$")
    purpose: Purpose
    granted: bool
    source: ConsentSource = ConsentSource.IMPORT

    @model_validator(mode="after")
    def _named(self) -> ConsentSpec:
        self.name = f"{self.channel}:{self.line_user_id}:{self.purpose}"
        return self


def names(session: Session, shop_id: int) -> list[str]:
    """None listed: every friend the file leaves out keeps their consent, and there may be
    many more friends than a file names."""
    return []


def _friend(session: Session, shop_id: int, spec: ConsentSpec) -> Friend:
    friend = session.scalar(
        select(Friend)
        .join(Channel, Channel.id == Friend.channel_id)
        .where(
            Channel.shop_id == shop_id,
            Channel.line_channel_id == spec.channel,
            Friend.line_user_id == spec.line_user_id,
        )
    )
    if friend is None:
        raise NotFound(f"consent {spec.name!r}: no such friend of channel {spec.channel}")
    return friend


def current(session: Session, shop_id: int, name: str) -> dict[str, Any] | None:
    """The friend's latest record for the purpose, shaped as the file writes it."""
    channel, line_user_id, purpose = name.split(":")
    spec = ConsentSpec(
        channel=channel, line_user_id=line_user_id, purpose=Purpose(purpose), granted=True
    )
    history = consent.history(session, friend=_friend(session, shop_id, spec))
    latest = [r for r in history if r.purpose == purpose]
    if not latest:
        return None
    spec.granted, spec.source = latest[-1].granted, ConsentSource(latest[-1].source)
    return spec.model_dump(mode="json", exclude_defaults=True)


def save(session: Session, shop_id: int, spec: ConsentSpec, actor: str) -> object:
    return consent.record(
        session,
        friend=_friend(session, shop_id, spec),
        purpose=spec.purpose,
        granted=spec.granted,
        source=spec.source,
        actor=actor,
    )
