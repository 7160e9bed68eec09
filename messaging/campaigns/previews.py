"""What a campaign would do if it started now: who, how many, what they read, and the quota."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.orm import Session

from connectors.line.sending import LineSender
from core.tenancy import Channel
from messaging.campaigns.models import Campaign, CampaignKind
from messaging.compose import compose, templates
from messaging.outbox import quota
from messaging.outbox.payloads import Message
from messaging.segments import segments

PREVIEW_SIZE = 10


@dataclass(slots=True)
class CampaignPreview:
    """``count`` and ``quota`` only for segment campaigns (triggered ones send per event)."""

    count: int | None
    sample: list[segments.Recipient] = field(default_factory=list)
    # The template as the first sample friend would read it (tracked links show their target).
    messages: list[Message] = field(default_factory=list)
    quota: quota.QuotaCheck | None = None


def preview(
    session: Session,
    *,
    campaign: Campaign,
    quota_sender: LineSender | None = None,
    size: int = PREVIEW_SIZE,
    now: datetime | None = None,
) -> CampaignPreview:
    """The campaign's audience now (segment campaigns), a rendered sample, the quota impact."""
    channel = session.get_one(Channel, campaign.channel_id)
    values: dict[str, str | None] = {"coupon_code": campaign.coupon_code}
    if campaign.coupon_pool_id is not None:
        # Each friend's own code is given when the message is planned, not to a preview.
        values["coupon"] = "〈coupon〉"
    if campaign.kind != CampaignKind.SEGMENT:
        # Who a triggered campaign reaches is decided per purchase, lapse or birthday.
        shown = {name: f"〈{name}〉" for name in templates.FRIEND_VARIABLES} | values
        return CampaignPreview(count=None, messages=_render(campaign, shown))
    segment = segments.get(session, shop_id=campaign.shop_id, name=campaign.trigger["segment"])
    found = segments.preview(session, segment=segment, channel=channel, size=size, now=now)
    if found.sample:
        first = found.sample[0].friend_id
        values = compose.friend_values(session, [first]).get(first, {}) | values
    impact = None
    if quota_sender is not None:
        impact = quota.check_quota(
            session, sender=quota_sender, channel_id=channel.id, needed=found.count
        )
    return CampaignPreview(
        count=found.count,
        sample=found.sample,
        messages=_render(campaign, values),
        quota=impact,
    )


def _render(campaign: Campaign, values: dict[str, str | None]) -> list[Message]:
    return templates.render(campaign.messages, values=values, link=lambda url: url)
