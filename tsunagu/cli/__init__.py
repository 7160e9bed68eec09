"""The ``tsunagu`` command line: ``app`` (Typer) and ``main``, the console script's entry.

``app`` runs the hub and its processes; one module per command group beside it: ``tenants``
(shop, channel, token), ``connector`` (and ``sync``), ``member``, ``campaign`` (and ``apply``).
"""

from tsunagu.cli.app import app, main

__all__ = ["app", "main"]
