"""Run the sandbox LINE platform over real HTTP: in a background thread, or in the foreground."""

from __future__ import annotations

import socket
import threading
import time
from types import TracebackType

import uvicorn

from core.serving import stop_server_thread
from sandbox.line.app import create_app
from sandbox.line.simulate import Simulator
from sandbox.line.state import SandboxState

START_TIMEOUT_SECONDS = 10.0


class SandboxServer:
    """A sandbox LINE platform on ``127.0.0.1`` (an ephemeral port by default).

    ``url`` is what ``Configuration(host=...)`` takes; ``state`` sets up channels and users and
    shows what they received; ``simulate`` acts as users and sends the hub webhooks.
    """

    def __init__(
        self,
        state: SandboxState | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        webhook_timeout: float = 10.0,
    ) -> None:
        self.state = state or SandboxState()
        self.simulate = Simulator(self.state, timeout=webhook_timeout)
        self.host = host
        self._requested_port = port
        self._socket: socket.socket | None = None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        """The port the server listens on (known once started)."""
        if self._socket is None:
            raise RuntimeError("the sandbox server is not started")
        return int(self._socket.getsockname()[1])

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:54321`` (no trailing slash)."""
        return f"http://{self.host}:{self.port}"

    def start(self) -> SandboxServer:
        """Start serving in a daemon thread; return once the port accepts connections."""
        if self._thread is not None:
            raise RuntimeError("the sandbox server is already started")
        # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY only on sockets that say so, and
        # without it every response waits ~40 ms for a delayed ACK.
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.bind((self.host, self._requested_port))
        app = create_app(self.state, simulator=self.simulate)
        config = uvicorn.Config(app, log_level="warning", lifespan="off", access_log=False)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run,
            kwargs={"sockets": [self._socket]},
            name="tsunagu-sandbox-line",
            daemon=True,
        )
        self._thread.start()
        self._wait_until_accepting()
        return self

    def stop(self) -> None:
        """Stop serving and wait for the thread to end."""
        if self._server is not None and self._thread is not None:
            stop_server_thread(self._server, self._thread, what="the sandbox LINE server")
        if self._socket is not None:
            self._socket.close()
        self._server, self._thread, self._socket = None, None, None

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _wait_until_accepting(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        assert self._server is not None and self._thread is not None
        while time.monotonic() < deadline:
            if self._server.started:
                try:
                    with socket.create_connection((self.host, self.port), timeout=0.5):
                        return
                except OSError:
                    pass
            if not self._thread.is_alive():
                break
            time.sleep(0.01)
        raise RuntimeError(f"the sandbox LINE server did not start on {self.host}")


def serve_forever(
    host: str = "127.0.0.1", port: int = 8701, state: SandboxState | None = None
) -> None:
    """Serve the sandbox LINE platform in the foreground until interrupted (the CLI's entry)."""
    app = create_app(state or SandboxState())
    uvicorn.run(app, host=host, port=port, log_level="info")
