"""Follow routes: declare them, record the visits their URL receives, attribute follows.

LINE's follow event says nothing about where the friend came from. So a route's URL first
identifies the LINE user (the route page is a LIFF page: LINE gives it a signed ID token),
records the visit, and only then leads to LINE's add-friend screen. A follow within the route's
window after a visit by the same LINE user is attributed to that route (the latest such visit
wins); a visit by someone who already follows is recorded as a returning friend's. Either is a
*touch*: the route's actions run, and the friend's first and last touch are kept.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from urllib.parse import quote

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from config import Settings
from connectors.errors import FatalError, RetriableError
from core import audit
from core.clock import from_millis
from core.errors import Conflict, HubError, NotFound, NotSetUp, Unprocessable
from core.inbox import InboundEvent
from core.tenancy import Channel, get_channel
from growth import actions
from growth.models import FollowRoute, RouteTouch, RouteVisit, TouchKind
from growth.schemas import ActionWhen, RouteAction, RouteIn, VisitOut
from growth.tagrules import events as tag_rule_events
from idlink import liff
from idlink.events import line_client
from idlink.models import Friend, FriendStatus

CODE_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"
# A follow's timestamp is LINE's clock, a visit's the hub's: allow them to disagree a little.
CLOCK_SKEW = timedelta(minutes=2)


class RouteNotFound(NotFound):
    """No follow route has this id in the shop, or this code anywhere."""


class RouteExists(Conflict):
    """The shop already has a route by this name."""


class RouteEnded(HubError):
    """The route was archived: its URL no longer records visits."""

    status_code = 410


class ChannelAmbiguous(Unprocessable):
    """The shop has several LINE accounts and the route (or form) did not say which one."""


def new_code() -> str:
    """A short code that is never all hex (tracked links' codes are), so both share ``/r/``."""
    while True:
        code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(8))
        if any(c > "f" for c in code if c.isalpha()):
            return code


def get_route(session: Session, *, shop_id: int, route_id: int) -> FollowRoute:
    route = session.get(FollowRoute, route_id)
    if route is None or route.shop_id != shop_id:
        raise RouteNotFound(f"no follow route {route_id} in this shop")
    return route


def find_by_name(session: Session, *, shop_id: int, name: str) -> FollowRoute | None:
    return session.scalar(
        select(FollowRoute).where(FollowRoute.shop_id == shop_id, FollowRoute.name == name)
    )


def shop_channel(session: Session, shop_id: int, line_channel_id: str | None) -> Channel:
    """The shop's channel by its LINE channel id; the only one when None (routes, forms)."""
    if line_channel_id is not None:
        channel = get_channel(session, line_channel_id)
        if channel.shop_id != shop_id:
            raise NotFound(f"no channel {line_channel_id} in this shop")
        return channel
    channels = session.scalars(select(Channel).where(Channel.shop_id == shop_id)).all()
    if len(channels) != 1:
        raise ChannelAmbiguous("say which LINE account: `channel` (its channel id)")
    return channels[0]


def _check_name(session: Session, shop_id: int, name: str, route_id: int | None) -> None:
    other = find_by_name(session, shop_id=shop_id, name=name)
    if other is not None and other.id != route_id:
        raise RouteExists(f"the shop already has a follow route named {name!r}")


def create_route(
    session: Session, *, shop_id: int, spec: RouteIn, actor: str, ip: str | None = None
) -> FollowRoute:
    """A new route with a fresh code; audited."""
    _check_name(session, shop_id, spec.name, None)
    channel = shop_channel(session, shop_id, spec.channel)
    route = FollowRoute(
        shop_id=shop_id,
        channel_id=channel.id,
        code=new_code(),
        name=spec.name,
        window_hours=spec.window_hours,
        destination_url=spec.destination_url,
        actions=[a.model_dump(mode="json") for a in spec.actions],
    )
    session.add(route)
    session.flush()
    _audit(session, route, actor, "route.created", ip)
    return route


def update_route(
    session: Session, *, route: FollowRoute, spec: RouteIn, actor: str, ip: str | None = None
) -> FollowRoute:
    """Change the route's name, window and actions (its code, and so its QR, stay). Friends it
    brought carry the new name."""
    _check_name(session, route.shop_id, spec.name, route.id)
    channel = shop_channel(session, route.shop_id, spec.channel)
    if channel.id != route.channel_id and _has_visits(session, route):
        raise Conflict("a route that has visits stays on its LINE account: make a new route")
    if spec.name != route.name:
        session.execute(
            update(Friend)
            .where(Friend.shop_id == route.shop_id, Friend.follow_route == route.name)
            .values(follow_route=spec.name)
        )
    route.name, route.channel_id = spec.name, channel.id
    route.window_hours = spec.window_hours
    route.destination_url = spec.destination_url
    route.actions = [a.model_dump(mode="json") for a in spec.actions]
    session.flush()
    _audit(session, route, actor, "route.changed", ip)
    return route


def archive_route(
    session: Session, *, route: FollowRoute, actor: str, now: datetime, ip: str | None = None
) -> FollowRoute:
    """Take the route out of use: out of the lists, its URL says it has ended and records no
    visit. Its visits, friends and report are kept; archiving twice changes nothing."""
    if route.archived_at is None:
        route.archived_at = now
        _audit(session, route, actor, "route.archived", ip)
    return route


def restore_route(
    session: Session, *, route: FollowRoute, actor: str, ip: str | None = None
) -> FollowRoute:
    """Bring an archived route back, with the same code (printed QR codes work again)."""
    if route.archived_at is not None:
        route.archived_at = None
        _audit(session, route, actor, "route.restored", ip)
    return route


def _has_visits(session: Session, route: FollowRoute) -> bool:
    return session.scalar(select(RouteVisit.id).where(RouteVisit.route_id == route.id)) is not None


def _audit(session: Session, route: FollowRoute, actor: str, action: str, ip: str | None) -> None:
    audit.record(
        session,
        shop_id=route.shop_id,
        actor=actor,
        action=action,
        subject_type="follow_route",
        subject_id=route.id,
        name=route.name,
        window_hours=route.window_hours,
        destination_url=route.destination_url,
        actions=route.actions,
        ip=ip,
    )


def route_of_code(session: Session, code: str) -> FollowRoute:
    route = session.scalar(select(FollowRoute).where(FollowRoute.code == code))
    if route is None:
        raise RouteNotFound(f"no follow route {code}")
    return route


def add_friend_url(session: Session, *, channel: Channel, settings: Settings) -> str:
    """LINE's add-friend screen for the channel (its basic id is asked of LINE once, then kept)."""
    if channel.basic_id is None:
        try:
            channel.basic_id = line_client(channel, settings).get_basic_id()
        except (FatalError, RetriableError) as exc:
            raise NotSetUp(
                "the LINE account's ID could not be read from LINE",
                hint=f"LINE answered: {exc}; check the channel's access token",
            ) from exc
    return f"{settings.line_web_url}/R/ti/p/{quote(channel.basic_id, safe='')}"


def record_visit(
    session: Session, *, code: str, id_token: str, settings: Settings, now: datetime
) -> VisitOut:
    """Record the LINE user's visit (their ID token verified); a returning friend is touched
    now. Returns where the page sends them: the route's destination, else the account's
    add-friend screen."""
    route = route_of_code(session, code)
    if route.archived_at is not None:
        raise RouteEnded(f"follow route {code} is no longer in use")
    channel = session.get_one(Channel, route.channel_id)
    line_user_id, friend = liff.identify(
        session, channel=channel, id_token=id_token, settings=settings, now=now
    )
    following = friend is not None and friend.status == FriendStatus.FOLLOWED
    visit = RouteVisit(
        shop_id=route.shop_id,
        channel_id=channel.id,
        route_id=route.id,
        line_user_id=line_user_id,
        friend_id=friend.id if following and friend is not None else None,
        visited_at=now,
    )
    session.add(visit)
    session.flush()
    if following and friend is not None:
        _touch(session, route, friend, visit, TouchKind.RETURNING, False, now, settings)
    next_url = route.destination_url or add_friend_url(session, channel=channel, settings=settings)
    return VisitOut(next_url=next_url, friend=following)


def on_line_event(session: Session, stored: InboundEvent, *, settings: Settings) -> None:
    """After a follow is recorded: attribute it to the route the user visited last, if any."""
    if stored.event_type != "follow" or stored.channel_id is None:
        return
    user_id = (stored.payload.get("source") or {}).get("userId")
    if user_id is None:
        return
    at = from_millis(stored.payload["timestamp"])
    friend = session.scalar(
        select(Friend).where(Friend.channel_id == stored.channel_id, Friend.line_user_id == user_id)
    )
    if friend is None:
        return
    found = session.execute(
        select(RouteVisit, FollowRoute)
        .join(FollowRoute, FollowRoute.id == RouteVisit.route_id)
        .where(
            RouteVisit.channel_id == stored.channel_id,
            RouteVisit.line_user_id == user_id,
            RouteVisit.friend_id.is_(None),
            RouteVisit.visited_at <= at + CLOCK_SKEW,
            ~select(RouteTouch.id).where(RouteTouch.visit_id == RouteVisit.id).exists(),
        )
        .order_by(RouteVisit.visited_at.desc())
        .limit(20)
    ).all()
    for visit, route in found:
        if visit.visited_at >= at - timedelta(hours=route.window_hours):
            new_friend = friend.first_followed_at == at
            _touch(session, route, friend, visit, TouchKind.FOLLOW, new_friend, at, settings)
            return


def _touch(
    session: Session,
    route: FollowRoute,
    friend: Friend,
    visit: RouteVisit,
    kind: TouchKind,
    new_friend: bool,
    at: datetime,
    settings: Settings,
) -> RouteTouch:
    first_time = (
        session.scalar(
            select(RouteTouch.id).where(
                RouteTouch.friend_id == friend.id, RouteTouch.route_id == route.id
            )
        )
        is None
    )
    touch = RouteTouch(
        shop_id=route.shop_id,
        route_id=route.id,
        friend_id=friend.id,
        visit_id=visit.id,
        kind=kind,
        new_friend=new_friend,
        at=at,
        outcome=[],
    )
    session.add(touch)
    session.flush()
    if kind == TouchKind.FOLLOW and friend.follow_route is None:
        friend.follow_route = route.name
    touch.outcome = _run_actions(session, route, friend, first_time, f"route{touch.id}", settings)
    tag_rule_events.on_route_touch(session, friend=friend, route_name=route.name, touch_id=touch.id)
    return touch


def _run_actions(
    session: Session,
    route: FollowRoute,
    friend: Friend,
    first_time: bool,
    key: str,
    settings: Settings,
) -> list[str]:
    """The route's actions for the friend (those for the first time only, skipped after it)."""
    outcome = []
    for index, raw in enumerate(route.actions):
        action = RouteAction.model_validate(raw)
        step = actions.Step(actions.StepKind(action.kind), action.target, action.value)
        if action.when == ActionWhen.FIRST and not first_time:
            outcome.append(f"{step.label}: skipped (first time only)")
            continue
        outcome.append(
            actions.run_one(
                session,
                friend=friend,
                step=step,
                actor=f"route:{route.name}",
                key=f"{key}x{index}",
                settings=settings,
            )
        )
    return outcome
