"""What every console handler shares: settings, database, templates, the sign-in policy, and
how a page is rendered in the staff member's language."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import Request
from fastapi.templating import Jinja2Templates
from starlette.responses import HTMLResponse

from config import Settings
from console import i18n
from core.clock import as_utc
from core.db import Database
from staff.oidc import OidcConfig, OidcProvider
from staff.service import SignInPolicy

PREFIX = "/console"
SESSION_COOKIE = "tsunagu_console"
# Anchors the CSRF token of the forms shown before sign-in (the sign-in and password pages).
PRE_SESSION_COOKIE = "tsunagu_console_pre"
# Holds the session that waits for its second sign-in step (a TOTP or recovery code).
SECOND_STEP_COOKIE = "tsunagu_console_step"
# Holds a single sign-on's state, nonce and PKCE verifier, sealed, until the provider answers.
SSO_COOKIE = "tsunagu_console_sso"
TOKYO = ZoneInfo("Asia/Tokyo")
_TEMPLATES = Path(__file__).with_name("templates")


@dataclass(slots=True)
class ConsoleContext:
    settings: Settings
    database: Database
    templates: Jinja2Templates
    policy: SignInPolicy
    oidc: OidcProvider | None = None

    @property
    def secure_cookies(self) -> bool:
        return self.settings.public_url.startswith("https://")


def build_context(settings: Settings, database: Database) -> ConsoleContext:
    templates = Jinja2Templates(directory=_TEMPLATES)
    templates.env.filters["local"] = _local_time
    return ConsoleContext(
        settings=settings,
        database=database,
        templates=templates,
        policy=SignInPolicy(
            max_failures=settings.staff_sign_in_max_failures,
            lock=timedelta(seconds=settings.staff_sign_in_lock_seconds),
            idle=timedelta(minutes=settings.staff_idle_minutes),
        ),
        oidc=_oidc_provider(settings),
    )


def _oidc_provider(settings: Settings) -> OidcProvider | None:
    """Single sign-on, when an issuer, a client id and its secret are all configured."""
    issuer, client_id = settings.staff_oidc_issuer, settings.staff_oidc_client_id
    secret = settings.staff_oidc_client_secret
    if not issuer or not client_id or secret is None:
        return None
    return OidcProvider(
        OidcConfig(
            issuer=issuer,
            client_id=client_id,
            client_secret=secret.get_secret_value(),
            redirect_uri=f"{settings.public_url}{PREFIX}/login/sso/callback",
        )
    )


def _local_time(value: datetime | None, zone: str | None = None) -> str:
    """A stored UTC time as wall time in ``zone`` (the shop's; Tokyo, its default, when not
    given), to the minute."""
    if value is None:
        return "—"
    return as_utc(value).astimezone(ZoneInfo(zone) if zone else TOKYO).strftime("%Y-%m-%d %H:%M")


def console_context(request: Request) -> ConsoleContext:
    return request.app.state.console


def locale_of(request: Request) -> str:
    """The signed-in staff member's language, else what the browser asks for."""
    return getattr(request.state, "locale", None) or i18n.negotiate(
        request.headers.get("accept-language")
    )


def is_htmx(request: Request) -> bool:
    return request.headers.get("hx-request") == "true"


def render(
    request: Request,
    template: str,
    values: dict[str, Any] | None = None,
    *,
    status_code: int = 200,
) -> HTMLResponse:
    """Render a page (or an htmx partial) in the request's language."""
    ctx = console_context(request)
    locale = locale_of(request)
    catalogue = i18n.translations(locale)
    return ctx.templates.TemplateResponse(
        request,
        template,
        {
            "_": catalogue.gettext,
            "ngettext": catalogue.ngettext,
            "locale": locale,
            "prefix": PREFIX,
            "staff": getattr(request.state, "staff", None),
            "csrf_token": getattr(request.state, "csrf_token", None),
            **(values or {}),
        },
        status_code=status_code,
    )
