"""Follow routes in the ``tsunagu apply`` file, after the kinds of ``messaging.declarations``
(a route's actions name tags, fields and sequences declared before it)::

    routes:
      - name: station-poster
        channel: "1650000001"
        window_hours: 24
        actions:
          - {kind: tag, target: poster, when: first}
          - {kind: message, target: "ようこそ", when: first}

A route is found by its name; applying changes its window and actions, never its code (the
printed QR codes stay valid).
"""

from __future__ import annotations

from typing import Any

from pydantic import Field
from sqlalchemy.orm import Session

from growth import queries, routes
from growth.schemas import Destination, RouteAction, RouteIn, RouteName
from messaging import declarations
from messaging.compose.schemas import NamedSpec


class RouteSpec(NamedSpec):
    """A follow route as the file declares it (the channel is named, as campaigns do)."""

    name: RouteName
    channel: str = Field(pattern=r"^[0-9]{1,32}$")
    window_hours: int = Field(24, ge=1, le=24 * 30)
    destination_url: Destination | None = None
    actions: list[RouteAction] = Field(default_factory=list, max_length=20)


def _names(session: Session, shop_id: int) -> list[str]:
    return [route.name for route in queries.routes_of(session, shop_id)]


def _current(session: Session, shop_id: int, name: str) -> dict[str, Any] | None:
    route = routes.find_by_name(session, shop_id=shop_id, name=name)
    if route is None:
        return None
    spec = RouteSpec(
        name=route.name,
        channel=queries.line_channel_id(session, route),
        window_hours=route.window_hours,
        destination_url=route.destination_url,
        actions=[RouteAction.model_validate(a) for a in route.actions],
    )
    return spec.model_dump(mode="json", exclude_defaults=True)


def _save(session: Session, shop_id: int, spec: RouteSpec, actor: str) -> object:
    body = RouteIn.model_validate(spec.model_dump())
    route = routes.find_by_name(session, shop_id=shop_id, name=spec.name)
    if route is None:
        return routes.create_route(session, shop_id=shop_id, spec=body, actor=actor)
    return routes.update_route(session, route=route, spec=body, actor=actor)


ROUTES = declarations.Kind("routes", RouteSpec, _names, _current, _save)
