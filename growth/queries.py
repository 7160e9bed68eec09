"""Reads of follow routes: the shop's routes, a route's report (totals and days), its CSV rows,
and a friend's touches for their chart."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from commerce.models import Purchase
from core.tenancy import Channel
from growth import actions
from growth.models import FollowRoute, RouteTouch, RouteVisit, TouchKind
from growth.schemas import RouteAction, RouteDay, RouteOut, RouteTotals, RouteVisitor
from idlink import tagging
from idlink.models import Friend, FriendFollowEvent, MemberLink

CSV_COLUMNS = ["day", "visits", "new_friends", "returning_friends"]


def routes_of(session: Session, shop_id: int, *, archived: bool = False) -> Sequence[FollowRoute]:
    """The shop's routes in use (or, with ``archived``, the archived ones), by name."""
    state = FollowRoute.archived_at.is_not(None) if archived else FollowRoute.archived_at.is_(None)
    return session.scalars(
        select(FollowRoute).where(FollowRoute.shop_id == shop_id, state).order_by(FollowRoute.name)
    ).all()


def archived_count(session: Session, shop_id: int) -> int:
    return int(
        session.scalar(
            select(func.count()).where(
                FollowRoute.shop_id == shop_id, FollowRoute.archived_at.is_not(None)
            )
        )
        or 0
    )


def line_channel_id(session: Session, route: FollowRoute) -> str:
    return session.get_one(Channel, route.channel_id).line_channel_id


@dataclass(frozen=True, slots=True)
class Report:
    totals: RouteTotals
    days: list[RouteDay]


def report(session: Session, route: FollowRoute) -> Report:
    """Visits, new and returning friends, their blocks, links and purchases after joining, and
    the same by day in the channel's timezone."""
    zone = ZoneInfo(session.get_one(Channel, route.channel_id).timezone)
    visits = session.execute(
        select(RouteVisit.visited_at, RouteVisit.line_user_id).where(
            RouteVisit.route_id == route.id
        )
    ).all()
    touches = session.execute(
        select(RouteTouch.friend_id, RouteTouch.kind, RouteTouch.new_friend, RouteTouch.at).where(
            RouteTouch.route_id == route.id
        )
    ).all()
    joined = _joined(touches)
    days: dict[date, list[int]] = defaultdict(lambda: [0, 0, 0])
    for at, _user in visits:
        days[at.astimezone(zone).date()][0] += 1
    for _friend, kind, new, at in touches:
        days[at.astimezone(zone).date()][1 if kind == TouchKind.FOLLOW and new else 2] += 1
    blocked_7, blocked_30 = _blocks(session, joined)
    purchases, revenue = _purchases(session, joined)
    totals = RouteTotals(
        visits=len(visits),
        visitors=len({user for _at, user in visits}),
        new_friends=sum(1 for _f, kind, new, _at in touches if kind == TouchKind.FOLLOW and new),
        returning_friends=len(
            {f for f, kind, new, _at in touches if not (kind == TouchKind.FOLLOW and new)}
        ),
        blocked_within_7_days=blocked_7,
        blocked_within_30_days=blocked_30,
        linked=_linked(session, joined),
        purchases=purchases,
        revenue=revenue,
    )
    return Report(
        totals=totals,
        days=[
            RouteDay(day=d, visits=v, new_friends=n, returning_friends=r)
            for d, (v, n, r) in sorted(days.items())
        ],
    )


def _joined(touches: Sequence[tuple[int, str, bool, datetime]]) -> dict[int, datetime]:
    """Each friend the route brought, with the first time it did."""
    first: dict[int, datetime] = {}
    for friend_id, _kind, _new, at in touches:
        if friend_id not in first or at < first[friend_id]:
            first[friend_id] = at
    return first


def _blocks(session: Session, joined: dict[int, datetime]) -> tuple[int, int]:
    blocked = session.execute(
        select(FriendFollowEvent.friend_id, FriendFollowEvent.at).where(
            FriendFollowEvent.friend_id.in_(list(joined)), FriendFollowEvent.kind == "blocked"
        )
    ).all()
    within: dict[int, set[int]] = {7: set(), 30: set()}
    for friend_id, at in blocked:
        for days in within:
            if joined[friend_id] <= at <= joined[friend_id] + timedelta(days=days):
                within[days].add(friend_id)
    return len(within[7]), len(within[30])


def _members(session: Session, joined: dict[int, datetime]) -> dict[int, int]:
    """Member id → friend id, for the friends the route brought who are linked now."""
    rows = session.execute(
        select(MemberLink.member_id, MemberLink.friend_id).where(
            MemberLink.friend_id.in_(list(joined)), MemberLink.unlinked_at.is_(None)
        )
    ).all()
    return {member: friend for member, friend in rows}


def _linked(session: Session, joined: dict[int, datetime]) -> int:
    return len(set(_members(session, joined).values()))


def _purchases(session: Session, joined: dict[int, datetime]) -> tuple[int, dict[str, Decimal]]:
    members = _members(session, joined)
    rows = session.execute(
        select(
            Purchase.member_id,
            Purchase.ordered_at,
            Purchase.currency,
            Purchase.total - Purchase.refunded_total,
        ).where(
            Purchase.member_id.in_(list(members)),
            Purchase.cancelled_at.is_(None),
            Purchase.test.is_(False),
        )
    ).all()
    count = 0
    revenue: defaultdict[str, Decimal] = defaultdict(Decimal)
    for member_id, ordered_at, currency, net in rows:
        if member_id is not None and ordered_at >= joined[members[member_id]]:
            count += 1
            revenue[currency] += Decimal(net)
    return count, dict(revenue)


def csv_rows(days: list[RouteDay]) -> Iterator[dict[str, object]]:
    for day in days:
        yield {
            "day": day.day.isoformat(),
            "visits": day.visits,
            "new_friends": day.new_friends,
            "returning_friends": day.returning_friends,
        }


@dataclass(frozen=True, slots=True)
class FriendTouch:
    route: str
    kind: str
    new_friend: bool
    at: datetime
    outcome: list[str]


def touches_of(session: Session, friend_id: int) -> list[FriendTouch]:
    """The routes that brought the friend, first touch first (the chart shows first and last)."""
    rows = session.execute(
        select(
            FollowRoute.name,
            RouteTouch.kind,
            RouteTouch.new_friend,
            RouteTouch.at,
            RouteTouch.outcome,
        )
        .join(FollowRoute, FollowRoute.id == RouteTouch.route_id)
        .where(RouteTouch.friend_id == friend_id)
        .order_by(RouteTouch.at, RouteTouch.id)
    ).all()
    return [FriendTouch(*row) for row in rows]


def visit_count(session: Session, route_id: int) -> int:
    return (
        session.scalar(
            select(func.count()).select_from(RouteVisit).where(RouteVisit.route_id == route_id)
        )
        or 0
    )


def route_out(session: Session, route: FollowRoute, *, public_url: str) -> RouteOut:
    """The route as the API and the console show it, with its short URL and QR codes."""
    url = f"{public_url}/r/{route.code}"
    return RouteOut(
        id=route.id,
        name=route.name,
        code=route.code,
        channel=line_channel_id(session, route),
        window_hours=route.window_hours,
        destination_url=route.destination_url,
        actions=[RouteAction.model_validate(a) for a in route.actions],
        url=url,
        qr_png=f"{url}/qr.png",
        qr_svg=f"{url}/qr.svg",
        created_at=route.created_at,
        archived_at=route.archived_at,
    )


def channels_of(session: Session, shop_id: int) -> list[tuple[str, str]]:
    """The shop's LINE accounts a route can bring friends to: (channel id, name)."""
    rows = session.execute(
        select(Channel.line_channel_id, Channel.name)
        .where(Channel.shop_id == shop_id)
        .order_by(Channel.name)
    )
    return [(channel_id, name) for channel_id, name in rows]


def chart_days(days: list[RouteDay], *, span: int = 90) -> list[RouteDay]:
    """The report's days with the empty ones between them filled in (the last ``span``)."""
    if not days:
        return []
    known = {d.day: d for d in days}
    last = days[-1].day
    first = max(days[0].day, last - timedelta(days=span - 1))
    count = (last - first).days + 1
    return [
        known.get(day, RouteDay(day=day, visits=0, new_friends=0, returning_friends=0))
        for day in (first + timedelta(days=i) for i in range(count))
    ]


def visitors(
    session: Session, route: FollowRoute, *, after: int | None, limit: int
) -> tuple[list[RouteVisitor], int | None]:
    """The route's visits counted per friend of its channel (by friend id, ``after`` the last
    one of the previous page); visitors who never became friends are not listed."""
    visits = func.count(RouteVisit.id)
    query = (
        select(Friend.id, Friend.display_name, visits, func.max(RouteVisit.visited_at))
        .join(
            Friend,
            (Friend.channel_id == RouteVisit.channel_id)
            & (Friend.line_user_id == RouteVisit.line_user_id),
        )
        .where(RouteVisit.route_id == route.id)
        .group_by(Friend.id, Friend.display_name)
        .order_by(Friend.id)
        .limit(limit + 1)
    )
    if after is not None:
        query = query.where(Friend.id > after)
    rows = session.execute(query).all()
    page = [
        RouteVisitor(friend_id=f, display_name=name, visits=n, last_visit_at=last)
        for f, name, n, last in rows[:limit]
    ]
    return page, page[-1].friend_id if len(rows) > limit else None


@dataclass(frozen=True, slots=True)
class RouteSummary:
    visits: int = 0
    new_friends: int = 0
    returning_friends: int = 0


def summaries(session: Session, shop_id: int) -> dict[int, RouteSummary]:
    """Visits, new and returning friends of every route of the shop, in two grouped queries
    (the list of routes; a route's own page reads its full report)."""
    visits = dict(
        session.execute(
            select(RouteVisit.route_id, func.count())
            .where(RouteVisit.shop_id == shop_id)
            .group_by(RouteVisit.route_id)
        ).all()
    )
    new = (RouteTouch.kind == TouchKind.FOLLOW) & RouteTouch.new_friend
    friends: dict[int, tuple[int, int]] = {}
    for route_id, is_new, count in session.execute(
        select(RouteTouch.route_id, new, func.count(func.distinct(RouteTouch.friend_id)))
        .where(RouteTouch.shop_id == shop_id)
        .group_by(RouteTouch.route_id, new)
    ):
        before = friends.get(route_id, (0, 0))
        friends[route_id] = (
            (before[0] + count, before[1]) if is_new else (before[0], before[1] + count)
        )
    return {
        route_id: RouteSummary(visits.get(route_id, 0), *friends.get(route_id, (0, 0)))
        for route_id in set(visits) | set(friends)
    }


@tagging.names_tags("follow routes")
def _rename_tag(session: Session, shop_id: int, old: str, new: str) -> int:
    """A route's tag actions, for the friends it brings from now on."""
    changed = 0
    for route in session.scalars(select(FollowRoute).where(FollowRoute.shop_id == shop_id)):
        renamed = actions.renamed_steps(route.actions, old, new)
        if renamed != route.actions:
            route.actions = renamed
            changed += 1
    return changed
