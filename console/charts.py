"""What the chart's handlers share: the friend a staff member may act on, and the answer after
a change (the part htmx swaps in, or back to the chart)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.orm import Session

from console.auth import Staff
from console.context import PREFIX, is_htmx, render
from idlink.models import Friend
from idlink.queries import find_friend
from staff.permissions import Action


def friend_for(session: Session, staff: Staff, friend_id: int, action: Action) -> Friend:
    """The friend the staff member may ``action`` on: refused for their role, not found outside
    their shop and channels."""
    staff.require(action)
    return find_friend(session, staff.shop.id, friend_id, channel_scope=staff.channel_scope)


def chart_part(
    request: Request, friend: Friend, template: str, values: Callable[[], dict[str, Any]]
) -> Response:
    """After a change on the chart: ``template`` for htmx (``values`` is read only then), the
    chart itself for a plain form."""
    if is_htmx(request):
        return render(request, template, values())
    return RedirectResponse(f"{PREFIX}/friends/{friend.id}", status_code=303)
