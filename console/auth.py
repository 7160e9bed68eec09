"""Who is signed in, what they may do, and the CSRF token every form carries.

A page depends on ``CurrentStaff`` (reads) or ``FormStaff`` (changes: the CSRF token checked
first). The token is derived from the session's secret cookie, so it is bound to the session;
before sign-in it is bound to a random pre-session cookie instead.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy import select
from sqlalchemy.orm import Session

from console.context import SESSION_COOKIE, console_context
from core.crypto import sha256_hex
from core.errors import Forbidden, HubError
from core.tenancy import Shop
from staff import service as staff_service
from staff.models import Role, StaffSession, StaffUser
from staff.permissions import Action, allows, require


class SignInRequired(HubError):
    """No live session: the browser is sent to the sign-in page."""

    status_code = 401


class CsrfRefused(Forbidden):
    """A form without the CSRF token of this session."""


def csrf_for(anchor: str) -> str:
    """The CSRF token bound to a session (or pre-session) cookie's secret value."""
    return sha256_hex("tsunagu console csrf\0" + anchor)


def check_csrf(sent: str | None, anchor: str | None) -> None:
    """Refuse a form whose token is not the one bound to ``anchor`` (403)."""
    if not sent or not anchor or not hmac.compare_digest(sent, csrf_for(anchor)):
        raise CsrfRefused("the form's security token is missing or belongs to another session")


def client_ip(request: Request) -> str | None:
    return request.client.host if request.client else None


def get_session(request: Request) -> Iterator[Session]:
    """The request's unit of work: committed once when the handler returns without error."""
    with console_context(request).database.session_scope() as session:
        yield session


DbSession = Annotated[Session, Depends(get_session, scope="function")]


@dataclass(frozen=True, slots=True)
class StaffView:
    """What the layout shows of the staff member: plain values, still readable on an error page
    rendered after the request's transaction has ended."""

    email: str
    role: Role
    session_id: int
    shop_id: int
    shop_name: str
    shops: list[tuple[int, str]]

    def can(self, action: str) -> bool:
        """Whether their role allows ``action`` (an Action's value), for what a page offers."""
        return allows(self.role, Action(action))


@dataclass(slots=True)
class Staff:
    """The signed-in staff member, in the shop their session is on."""

    user: StaffUser
    session: StaffSession
    shop: Shop
    role: Role
    channel_scope: list[str] | None
    shops: list[tuple[int, str]] = field(default_factory=list)

    @property
    def actor(self) -> str:
        """How audit records name them."""
        return f"staff:{self.user.email}"

    def can(self, action: Action) -> bool:
        return allows(self.role, action)

    def require(self, action: Action) -> None:
        require(self.role, action)


def current_staff(request: Request, session: DbSession) -> Staff:
    """The staff member the session cookie belongs to; otherwise off to the sign-in page."""
    ctx = console_context(request)
    token = request.cookies.get(SESSION_COOKIE)
    found = (
        staff_service.resume_session(session, token=token, idle=ctx.policy.idle) if token else None
    )
    role = staff_service.role_in(found.user, found.shop_id) if found else None
    if found is None or role is None or token is None:
        raise SignInRequired("sign in to continue")
    shops = dict(
        session.execute(
            select(Shop.id, Shop.name).where(Shop.id.in_([r.shop_id for r in found.user.roles]))
        ).all()
    )
    staff = Staff(
        user=found.user,
        session=found,
        shop=session.get_one(Shop, found.shop_id),
        role=Role(role.role),
        channel_scope=role.channel_ids,
        shops=sorted(shops.items(), key=lambda item: item[1]),
    )
    request.state.staff = StaffView(
        email=staff.user.email,
        role=staff.role,
        session_id=found.id,
        shop_id=staff.shop.id,
        shop_name=staff.shop.name,
        shops=staff.shops,
    )
    request.state.locale = found.user.locale
    request.state.csrf_token = csrf_for(token)
    return staff


CurrentStaff = Annotated[Staff, Depends(current_staff)]


async def form_staff(request: Request, staff: CurrentStaff) -> Staff:
    """The signed-in staff member, once the form's CSRF token is checked against the session."""
    form = await request.form()
    sent = form.get("csrf_token") or request.headers.get("x-csrf-token")
    check_csrf(sent if isinstance(sent, str) else None, request.cookies.get(SESSION_COOKIE))
    return staff


FormStaff = Annotated[Staff, Depends(form_staff)]
