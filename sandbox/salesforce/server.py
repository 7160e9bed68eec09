"""Run the sandbox Salesforce org over real HTTP on a background thread."""

from __future__ import annotations

from core.serving import ThreadedServer
from sandbox.salesforce.app import create_app
from sandbox.salesforce.state import SalesforceState


class SalesforceSandbox:
    """A sandbox org on ``127.0.0.1``: ``url`` is both its login URL and its instance URL."""

    def __init__(self, state: SalesforceState | None = None, *, port: int = 0) -> None:
        self.state = state or SalesforceState()
        self._server = ThreadedServer(create_app(self.state), port=port, lifespan="off")
        self.state.instance_url = self._server.url

    @property
    def url(self) -> str:
        return self._server.url

    def start(self) -> SalesforceSandbox:
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop()

    def __enter__(self) -> SalesforceSandbox:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()
