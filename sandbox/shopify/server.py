"""Run the sandbox Shopify store over real HTTP on a background thread."""

from __future__ import annotations

from types import TracebackType

from core.serving import ThreadedServer
from sandbox.shopify.app import create_app
from sandbox.shopify.state import ShopifyState
from sandbox.shopify.webhooks import WebhookSender


class ShopifyServer:
    """A sandbox Shopify store on ``127.0.0.1``: ``url`` is the connection's base URL,
    ``state`` its data and limits, ``webhooks`` sends its signed webhooks to the hub."""

    def __init__(self, state: ShopifyState | None = None, *, port: int = 0) -> None:
        self.state = state or ShopifyState()
        self.webhooks = WebhookSender(self.state)
        self._server = ThreadedServer(create_app(self.state), port=port, lifespan="off")
        self.state.public_url = self._server.url

    @property
    def url(self) -> str:
        return self._server.url

    def start(self) -> ShopifyServer:
        self._server.start()
        return self

    def stop(self) -> None:
        self._server.stop()

    def __enter__(self) -> ShopifyServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
