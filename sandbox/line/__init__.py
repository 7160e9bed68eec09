"""A sandbox of the LINE platform over real HTTP, for the hub's tests and ``tsunagu demo``.

The official ``line-bot-sdk`` talks to it unchanged::

    with SandboxServer() as line:
        line.state.add_channel("2000000001", secret, token, webhook_url=hub_url)
        user = line.state.add_user(display_name="Hanako")
        line.simulate.follow(user.user_id)          # a signed follow webhook to the hub
        Configuration(access_token=token, host=line.url)
        line.state.inbox(user.user_id)              # what the user received

It imports no other tsunagu package: only the standard library and third-party code.
"""

from sandbox.line.app import create_app
from sandbox.line.server import SandboxServer, serve_forever
from sandbox.line.simulate import Simulator
from sandbox.line.state import SandboxState

__all__ = ["SandboxServer", "SandboxState", "Simulator", "create_app", "serve_forever"]
