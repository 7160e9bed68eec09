"""From a template to planned deliveries: each friend's values, tracked links, then ``plan``.

Every trigger (purchase campaigns, reminders, sequence steps, scans) sends through
``plan_template``: the friend variables are loaded in bulk, each tracked link becomes a
``TrackedLink`` row with a code derived from the delivery's idempotency key (so planning the same
send twice makes no second link), and the rendered messages go to ``service.plan``.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from connectors.line.sending import LineSender
from core.crypto import box
from core.db import insert
from core.tenancy import Channel, Shop
from crm import fields
from idlink.models import Friend, Member, MemberLink
from messaging.compose import links, templates
from messaging.compose.models import StandaloneLink, TrackedLink
from messaging.outbox import service
from messaging.outbox.payloads import Message
from messaging.outbox.service import PlanResult
from messaging.outbox.sql import any_of

_WEEKDAYS_JA = "月火水木金土日"


@dataclass(frozen=True, slots=True)
class Links:
    """How a send's tracked links are made: the hub's public URL and the tag a click gives."""

    public_url: str
    tag: str | None = None


@dataclass(slots=True)
class TemplateSend:
    """One template sent to some friends of a channel, each under their own idempotency key."""

    channel: Channel
    template: Sequence[Message]
    source: str
    links: Links
    due_at: datetime
    # Values beyond the friend's own (a booking's time, a coupon), per friend or for all.
    values: Mapping[str, str | None] = field(default_factory=dict)
    values_for: Mapping[int, Mapping[str, str | None]] = field(default_factory=dict)
    respect_quiet_hours: bool = True
    quota_sender: LineSender | None = None
    aggregation_unit: str | None = None


def plan_template(
    session: Session,
    send: TemplateSend,
    *,
    friend_ids: Collection[int],
    idempotency_key_for: Callable[[int], str],
    now: datetime | None = None,
) -> PlanResult:
    """Render ``send.template`` for each friend and plan it (idempotent by key)."""
    ids = list(dict.fromkeys(friend_ids))
    if not templates.is_personal(send.template):
        messages: service.Messages = list(send.template)
    else:
        known = friend_values(session, ids)
        linker = _Linker(session, send, idempotency_key_for)

        def messages(friend_id: int) -> list[Message]:
            values = {
                **known.get(friend_id, {}),
                **send.values,
                **send.values_for.get(friend_id, {}),
            }
            return templates.render(
                send.template,
                values=values,
                link=lambda url: linker.url(friend_id, url),
                tracked=lambda name: linker.tracked(friend_id, name),
            )

    result = service.plan(
        session,
        channel=send.channel,
        recipients=ids,
        messages=messages,
        idempotency_key_for=idempotency_key_for,
        due_at=send.due_at,
        source=send.source,
        quota_sender=send.quota_sender,
        respect_quiet_hours=send.respect_quiet_hours,
        aggregation_unit=send.aggregation_unit,
        now=now,
    )
    if templates.is_personal(send.template):
        linker.flush()
    return result


def render_for(session: Session, send: TemplateSend, *, friend_id: int, key: str) -> list[Message]:
    """One friend's rendering of ``send.template``, as ``plan_template`` makes it for each
    friend: their variables filled, each ``{{ link:URL }}`` a tracked link keyed by ``key``
    (the delivery's idempotency key)."""
    if not templates.is_personal(send.template):
        return [dict(m) for m in send.template]
    linker = _Linker(session, send, lambda _friend_id: key)
    values = {**friend_values(session, [friend_id]).get(friend_id, {}), **send.values}
    rendered = templates.render(
        send.template, values=values, link=lambda url: linker.url(friend_id, url)
    )
    linker.flush()
    return rendered


def friend_values(
    session: Session, friend_ids: Collection[int]
) -> dict[int, dict[str, str | None]]:
    """Display name, member name and number of each friend (member ones only when linked), their
    shop's name, and their custom fields as ``field.<key>``."""
    values: dict[int, dict[str, str | None]] = {}
    ids = list(friend_ids)
    for start in range(0, len(ids), 10_000):
        chunk = ids[start : start + 10_000]
        rows = session.execute(
            select(Friend.id, Friend.display_name, Member.name, Member.member_number, Shop.name)
            .join(Shop, Shop.id == Friend.shop_id)
            .outerjoin(
                MemberLink,
                (MemberLink.friend_id == Friend.id) & MemberLink.unlinked_at.is_(None),
            )
            .outerjoin(Member, Member.id == MemberLink.member_id)
            .where(any_of(session, Friend.id, chunk))
        )
        for friend_id, display_name, member_name, member_number, shop_name in rows:
            values[friend_id] = {
                "display_name": display_name,
                "member_name": member_name,
                "member_number": member_number,
                "shop_name": shop_name,
            }
        shop_id = session.scalar(select(Friend.shop_id).where(Friend.id == chunk[0]))
        for friend_id, found in fields.values_for(session, shop_id or 0, chunk).items():
            values.setdefault(friend_id, {}).update(
                {
                    templates.FIELD_PREFIX + key: fields.shown(value, yes="はい", no="いいえ")
                    for key, value in found.items()
                }
            )
    return values


def field_variables(session: Session, shop_id: int) -> set[str]:
    """The template variables of the shop's custom fields (``field.<key>`` each) and standalone
    tracked links (``tracked:<name>`` each)."""
    names = session.scalars(select(StandaloneLink.name).where(StandaloneLink.shop_id == shop_id))
    return {templates.FIELD_PREFIX + d.key for d in fields.definitions(session, shop_id)} | {
        templates.TRACKED_PREFIX + name for name in names
    }


class _Linker:
    """Tracked links of one send, collected while rendering and inserted once."""

    def __init__(self, session: Session, send: TemplateSend, key_for: Callable[[int], str]) -> None:
        self._session = session
        self._send = send
        self._key_for = key_for
        self._rows: dict[str, dict[str, object]] = {}
        self._standalone: dict[str, StandaloneLink | None] = {}

    def url(self, friend_id: int, url: str) -> str:
        code = link_code(self._key_for(friend_id), url)
        self._rows[code] = {
            "code": code,
            "shop_id": self._send.channel.shop_id,
            "friend_id": friend_id,
            "source": self._send.source,
            "url": url,
            "tag": self._send.links.tag,
            "clicks": 0,
            "link_id": None,
        }
        return f"{self._send.links.public_url.rstrip('/')}/r/{code}"

    def tracked(self, friend_id: int, name: str) -> str:
        """The friend's code of the shop's standalone link ``name`` (empty if it is gone)."""
        if name not in self._standalone:
            self._standalone[name] = links.find_link(
                self._session, shop_id=self._send.channel.shop_id, name=name
            )
        standalone = self._standalone[name]
        if standalone is None:
            return ""
        row = links.code_rows(standalone, [friend_id])[0]
        self._rows[str(row["code"])] = row
        return f"{self._send.links.public_url.rstrip('/')}/r/{row['code']}"

    def flush(self) -> None:
        if self._rows:
            statement = insert(self._session, TrackedLink).on_conflict_do_nothing()
            self._session.execute(statement, list(self._rows.values()))
            self._rows.clear()


def link_code(idempotency_key: str, url: str) -> str:
    """The code of one link of one delivery: keyed, so nobody can guess another friend's."""
    return box().blind_index(f"link\0{idempotency_key}\0{url}")[:24]


def due_after(moment: datetime, delay: Mapping[str, Any], timezone: str) -> datetime:
    """When a send delayed by ``delay`` after ``moment`` falls due (UTC).

    ``{"days": 3, "at": "10:00"}`` is 10:00 local time three days after ``moment``'s local date;
    without ``at`` the delay is added as a duration (``days``, ``hours``, ``minutes``). A time of
    day already past on a zero-day delay moves to the next day.
    """
    days = int(delay.get("days") or 0)
    at = delay.get("at")
    if not at:
        hours, minutes = int(delay.get("hours") or 0), int(delay.get("minutes") or 0)
        return moment + timedelta(days=days, hours=hours, minutes=minutes)
    tz = ZoneInfo(timezone)
    local_day = moment.astimezone(tz).date() + timedelta(days=days)
    due = datetime.combine(local_day, time.fromisoformat(str(at)), tzinfo=tz)
    if due <= moment:
        due += timedelta(days=1)
    return due.astimezone(ZoneInfo("UTC"))


def local_time_text(moment: datetime, timezone: str) -> str:
    """A moment in the channel's timezone as customers read it: 2026年12月1日(火) 14:00."""
    local = moment.astimezone(ZoneInfo(timezone))
    return f"{local_date_text(local.date())} {local:%H:%M}"


def local_date_text(day: date) -> str:
    return f"{day.year}年{day.month}月{day.day}日({_WEEKDAYS_JA[day.weekday()]})"
