"""The console as a browser without JavaScript sees it: forms, cookies and redirects over HTTP."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import httpx

from core.db import Database
from core.tenancy import Shop
from staff import service as staff_service
from staff.models import Role

PASSWORD = "correct horse battery"
CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')


def add_staff(
    database: Database,
    shop: Shop,
    email: str,
    role: Role,
    *,
    channel_ids: Sequence[str] = (),
) -> None:
    """A staff member with ``role`` in ``shop`` and the password ``PASSWORD``."""
    with database.session_scope() as session:
        user = staff_service.add_staff(
            session,
            email=email,
            shop=session.get_one(Shop, shop.id),
            role=role,
            channel_ids=channel_ids,
        )
        if user.password_hash is None:
            staff_service.set_password_directly(session, user=user, password=PASSWORD)


def csrf_of(html: str) -> str:
    found = CSRF_FIELD.search(html)
    assert found, "no CSRF field on the page"
    return found.group(1)


class Browser:
    """One browser: its own cookie jar, following no redirect unless asked."""

    def __init__(self, hub_url: str) -> None:
        self.client = httpx.Client(base_url=hub_url, timeout=10, follow_redirects=False)

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return self.client.get(path, **kwargs)

    def post(self, path: str, data: dict[str, str], **kwargs: Any) -> httpx.Response:
        return self.client.post(path, data=data, **kwargs)

    def sign_in(self, email: str, password: str = PASSWORD) -> httpx.Response:
        page = self.get("/console/login")
        return self.post(
            "/console/login",
            {"email": email, "password": password, "csrf_token": csrf_of(page.text)},
        )

    def submit(
        self, page_path: str, action: str, data: dict[str, str], **kwargs: Any
    ) -> httpx.Response:
        """Post a form the way the page at ``page_path`` would, with its CSRF token."""
        page = self.get(page_path)
        assert page.status_code == 200, page.text
        return self.post(action, {"csrf_token": csrf_of(page.text), **data}, **kwargs)
