"""The sandbox LINE platform as one FastAPI app: Messaging API, LINE Login, LIFF, controls."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from sandbox.line import (
    routes_content,
    routes_control,
    routes_login,
    routes_messaging,
    routes_richmenu,
)
from sandbox.line.errors import LineApiError, OAuthError
from sandbox.line.recorder import RecorderMiddleware
from sandbox.line.simulate import Simulator
from sandbox.line.state import SandboxState


def create_app(state: SandboxState, *, simulator: Simulator | None = None) -> FastAPI:
    """Build the app serving api.line.me, api-data.line.me and access.line.me paths."""
    app = FastAPI(
        title="tsunagu sandbox LINE platform",
        docs_url="/sandbox/docs",
        openapi_url="/sandbox/openapi.json",
    )
    app.state.sandbox = state
    app.state.simulator = simulator or Simulator(state)
    app.include_router(routes_messaging.router)
    app.include_router(routes_richmenu.router)
    app.include_router(routes_content.router)
    app.include_router(routes_login.router)
    app.include_router(routes_control.router)
    _add_error_handlers(app)
    app.add_middleware(RecorderMiddleware, record=state.record_api_call)
    # LIFF pages served by the hub call the sandbox from the browser (another origin).
    app.add_middleware(
        CORSMiddleware, allow_origins=["*"], allow_methods=["*"], allow_headers=["*"]
    )
    return app


def _add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(LineApiError)
    async def line_api_error(_: Request, exc: LineApiError) -> JSONResponse:
        return JSONResponse(exc.body(), status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(OAuthError)
    async def oauth_error(_: Request, exc: OAuthError) -> JSONResponse:
        return JSONResponse(exc.body(), status_code=exc.status_code)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        if request.url.path.startswith("/sandbox"):
            return JSONResponse({"detail": jsonable_encoder(exc.errors())}, status_code=422)
        # Platform paths answer like LINE: a 400 naming each offending parameter.
        details = [
            {"message": str(error["msg"]), "property": str(error["loc"][-1])}
            for error in exc.errors()
        ]
        body = {"message": f"The request has {len(details)} error(s)", "details": details}
        return JSONResponse(body, status_code=400)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return JSONResponse({"message": str(exc.detail)}, status_code=exc.status_code)
