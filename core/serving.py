"""Run an ASGI app with uvicorn on a background thread (the demo, the tests, the sandbox)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from types import FrameType
from typing import Any

import uvicorn

# A response still streaming when the server stops (a console's live updates) is cancelled
# after this; then the app's shutdown runs and the thread ends.
GRACEFUL_SHUTDOWN_SECONDS = 3
STOP_TIMEOUT_SECONDS = 10.0


class ThreadedServer:
    """uvicorn on a daemon thread; ``start()`` returns once the port accepts connections,
    ``stop()`` once the thread has ended."""

    def __init__(self, app: Any, *, host: str = "127.0.0.1", port: int = 0, **options: Any):
        self.host = host
        self.port = port or free_port(host)
        options.setdefault("timeout_graceful_shutdown", GRACEFUL_SHUTDOWN_SECONDS)
        config = uvicorn.Config(
            app, host=host, port=self.port, log_level="warning", access_log=False, **options
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, daemon=True, name=f"tsunagu-http-{self.port}"
        )

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self, timeout: float = 10.0) -> ThreadedServer:
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"server on {self.url} did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        """Stop serving and wait for the thread to end; raise if it does not."""
        stop_server_thread(self._server, self._thread, what=f"the server on {self.url}")

    def __enter__(self) -> ThreadedServer:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()


class SignalledServer(uvicorn.Server):
    """uvicorn that calls ``on_exit`` when a signal tells it to stop, before its graceful
    shutdown starts waiting for the open responses (long-lived ones must end first)."""

    def __init__(self, config: uvicorn.Config, *, on_exit: Callable[[], None]) -> None:
        super().__init__(config)
        self._on_exit = on_exit

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        self._on_exit()
        super().handle_exit(sig, frame)


def stop_server_thread(server: uvicorn.Server, thread: threading.Thread, *, what: str) -> None:
    """Ask ``server`` to exit, and wait for its ``thread``: a graceful shutdown first, a forced
    one if that takes too long. A thread still serving (and still reaching the database) after
    its owner stopped it is an error, not something to leave behind."""
    server.should_exit = True
    if not thread.is_alive():
        return
    thread.join(timeout=STOP_TIMEOUT_SECONDS)
    if thread.is_alive():
        server.force_exit = True
        thread.join(timeout=STOP_TIMEOUT_SECONDS)
    if thread.is_alive():
        raise RuntimeError(f"{what} did not stop within {2 * STOP_TIMEOUT_SECONDS:.0f} s")


def free_port(host: str) -> int:
    """A port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]
