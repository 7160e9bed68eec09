"""Request dependencies: the unit-of-work session and the admin caller's shop."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from config import Settings
from core.db import Database
from core.errors import Unauthorized
from core.tenancy import Shop, authenticate


def get_database(request: Request) -> Database:
    return request.app.state.ctx.database


def get_settings(request: Request) -> Settings:
    return request.app.state.ctx.settings


def get_session(database: Annotated[Database, Depends(get_database)]) -> Iterator[Session]:
    """The request's unit of work: committed once when the handler returns without error."""
    with database.session_scope() as session:
        yield session


_bearer = HTTPBearer(auto_error=False, description="An API token from `tsunagu token create`.")


def get_shop(
    session: Annotated[Session, Depends(get_session, scope="function")],
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Shop:
    """The shop the bearer token belongs to; every admin query is scoped to it."""
    if credentials is None:
        raise Unauthorized("missing bearer token: send `Authorization: Bearer <token>`")
    return authenticate(session, credentials.credentials)


DbSession = Annotated[Session, Depends(get_session, scope="function")]
CurrentShop = Annotated[Shop, Depends(get_shop)]
AppSettings = Annotated[Settings, Depends(get_settings)]
