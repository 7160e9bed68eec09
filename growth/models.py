"""Follow routes, the visits their URL receives and the follows attributed to them."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from core.clock import utcnow
from core.db import Base


class TouchKind(enum.StrEnum):
    # A follow within the route's window after a visit (a new friend, or one who unblocked).
    FOLLOW = "follow"
    # A visit by someone who already follows the account (a QR at the counter).
    RETURNING = "returning"


class FollowRoute(Base):
    """A way in (a poster, a flyer, a banner): a code for its short URL and QR, and actions."""

    __tablename__ = "follow_routes"
    __table_args__ = (UniqueConstraint("shop_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id"), index=True)
    channel_id: Mapped[int] = mapped_column(ForeignKey("channels.id"))
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(64))
    window_hours: Mapped[int] = mapped_column(default=24)
    # Where the page sends the visitor: a web page (a tracked link for a rich menu or a Flex
    # button), or, when None, the account's add-friend screen.
    destination_url: Mapped[str | None] = mapped_column(Text)
    # [{"kind": "tag", "value": "poster", "when": "first"}, ...] (growth.schemas.RouteAction)
    actions: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # An archived route is out of the lists and its URL says it has ended; its visits, friends
    # and report stay (restoring it brings the same code, so printed QR codes work again).
    archived_at: Mapped[datetime | None]


class RouteVisit(Base):
    """The route's URL opened by a LINE user the hub identified (by a verified ID token)."""

    __tablename__ = "route_visits"
    __table_args__ = (
        Index("ix_route_visits_channel_user_at", "channel_id", "line_user_id", "visited_at"),
        Index("ix_route_visits_route_at", "route_id", "visited_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id"))
    channel_id: Mapped[int] = mapped_column(ForeignKey("channels.id"))
    route_id: Mapped[int] = mapped_column(ForeignKey("follow_routes.id"))
    line_user_id: Mapped[str | None] = mapped_column(String(33))
    # Set when the visitor already followed the account (a returning friend).
    friend_id: Mapped[int | None] = mapped_column(ForeignKey("friends.id"))
    visited_at: Mapped[datetime]


class RouteTouch(Base):
    """A friend brought (or brought back) by a route: a follow attributed to a visit, or a
    returning friend's visit. The friend's first touch and last touch are read from here."""

    __tablename__ = "route_touches"
    __table_args__ = (
        UniqueConstraint("visit_id"),
        Index("ix_route_touches_friend_at", "friend_id", "at"),
        Index("ix_route_touches_route_at", "route_id", "at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id"))
    route_id: Mapped[int] = mapped_column(ForeignKey("follow_routes.id"))
    friend_id: Mapped[int] = mapped_column(ForeignKey("friends.id"))
    visit_id: Mapped[int] = mapped_column(ForeignKey("route_visits.id"))
    kind: Mapped[str] = mapped_column(String(16))
    # The friend's first follow of the account ever (not an unblock, not a returning visit).
    new_friend: Mapped[bool] = mapped_column(default=False)
    at: Mapped[datetime]
    # What the route's actions did, as staff read it on the chart ("tag poster: added", ...).
    outcome: Mapped[list[str]] = mapped_column(JSON, default=list)
