"""One rendering for every error: ``{"error": <name>, "detail": <what to do>}``."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from core.errors import HubError, NotSetUp

log = logging.getLogger(__name__)


def error_response(status_code: int, error: str, detail: object) -> JSONResponse:
    return JSONResponse({"error": error, "detail": detail}, status_code=status_code)


def internal_error_response(request_id: str) -> JSONResponse:
    """The answer to an error the hub did not expect: no internals, the id to quote."""
    return error_response(
        500,
        "InternalError",
        f"the hub failed to handle this request; its log has the details under request id "
        f"{request_id}",
    )


def hub_error_response(exc: HubError) -> JSONResponse:
    """The response for a domain error; one that is the hub's fault is logged."""
    if exc.status_code >= 500:
        log.error("%s: %s", exc.code, exc.detail)
    elif isinstance(exc, NotSetUp):
        log.warning("%s: %s; to fix: %s", exc.code, exc.detail, exc.hint)
    return error_response(exc.status_code, exc.code, exc.detail)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(HubError)
    async def _hub_error(_request: Request, exc: HubError) -> JSONResponse:
        return hub_error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
        details = [
            {"field": ".".join(str(p) for p in e["loc"]), "message": e["msg"]} for e in exc.errors()
        ]
        return error_response(422, "ValidationFailed", details)

    @app.exception_handler(DataError)
    async def _unstorable_value(_request: Request, exc: DataError) -> JSONResponse:
        # The database's "data exception" class: a value it cannot hold or compare (text with
        # NUL characters, an integer past its column) that validation let through.
        log.warning("a request's value was refused by the database: %s", exc.orig)
        return error_response(
            422,
            "ValueNotStorable",
            "a value in the request cannot be stored or searched for (text with NUL "
            "characters, a number out of range): change it and try again",
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        response = error_response(exc.status_code, "HTTPError", exc.detail)
        response.headers.update(exc.headers or {})
        if exc.status_code == 405:
            # HTTP requires a 405 to name every method the path allows; Starlette names only
            # those of the first route that matched the path.
            response.headers["allow"] = allowed_methods(request)
        return response


_METHODS = ("DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT")


def allowed_methods(request: Request) -> str:
    """The methods some route of the app serves at the request's path, for ``Allow``."""
    routes = request.app.router.routes
    allowed = [
        method
        for method in _METHODS
        if any(r.matches({**request.scope, "method": method})[0] is Match.FULL for r in routes)
    ]
    return ", ".join(allowed)
