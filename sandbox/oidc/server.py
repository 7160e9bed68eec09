"""Run the sandbox OpenID Connect provider over real HTTP on a background thread."""

from __future__ import annotations

from types import TracebackType

from core.serving import ThreadedServer
from sandbox.oidc.app import create_app
from sandbox.oidc.state import OidcState


class OidcServer:
    """A sandbox OpenID Connect provider on ``127.0.0.1``; ``url`` is its issuer."""

    def __init__(self, state: OidcState | None = None, *, port: int = 0) -> None:
        self.state = state or OidcState()
        self._server = ThreadedServer(create_app(self.state), port=port, lifespan="off")
        self.state.issuer = self._server.url

    @property
    def url(self) -> str:
        return self._server.url

    def start(self) -> OidcServer:
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop()

    def __enter__(self) -> OidcServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
