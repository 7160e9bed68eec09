"""``tsunagu``: run the hub, its worker and scheduler, and administer shops, channels, tokens."""

from __future__ import annotations

import logging
import os
import signal
import time
from typing import Annotated, NoReturn

import typer
from rich.console import Console

from config import Settings
from core.errors import HubError
from core.logging import configure_logging
from core.private_files import private_directory
from jobs.celery_app import create_celery
from tsunagu import migrate
from tsunagu.cli.campaign import apply_command, campaign_app
from tsunagu.cli.connector import connector_app, sync_command
from tsunagu.cli.coupon import coupon_app
from tsunagu.cli.field import field_app
from tsunagu.cli.member import member_app
from tsunagu.cli.privacy import consent_app, privacy_app
from tsunagu.cli.staff import staff_app
from tsunagu.cli.support import load_settings
from tsunagu.cli.tag import tag_app
from tsunagu.cli.tenants import channel_app, shop_app, token_app
from tsunagu.hub import build_hub, build_worker, settle_heap

app = typer.Typer(help=__doc__, no_args_is_help=True, pretty_exceptions_enable=False)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
sandbox_app = typer.Typer(help="Local emulators of external platforms.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(shop_app, name="shop")
app.add_typer(channel_app, name="channel")
app.add_typer(token_app, name="token")
app.add_typer(sandbox_app, name="sandbox")
app.add_typer(connector_app, name="connector")
app.add_typer(member_app, name="member")
app.add_typer(field_app, name="field")
app.add_typer(privacy_app, name="privacy")
app.add_typer(consent_app, name="consent")
app.add_typer(staff_app, name="staff")
app.add_typer(tag_app, name="tag")
app.command("sync")(sync_command)
app.add_typer(campaign_app, name="campaign")
app.add_typer(coupon_app, name="coupon")
app.command("apply")(apply_command)

console = Console()
err = Console(stderr=True)
log = logging.getLogger("tsunagu")


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Listen address (TSUNAGU_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Listen port (TSUNAGU_PORT).")] = None,
) -> None:
    """Run the API; with no broker configured, the worker and scheduler run in-process too."""
    import uvicorn

    from core.serving import SignalledServer

    settings = load_settings()
    try:
        hub = build_hub(settings).start()
    except HubError as exc:
        _exit_on(exc)
    mode = "embedded worker" if settings.embedded else f"broker {_redact(settings.broker_url)}"
    log.info("tsunagu serving on %s:%s (%s)", host or settings.host, port or settings.port, mode)
    # uvicorn shuts down gracefully on SIGTERM, then raises the signal again; exit normally on
    # it instead, so the embedded worker below still finishes the tasks it started.
    signal.signal(signal.SIGTERM, _exit_normally)
    settle_heap()
    try:
        config = uvicorn.Config(
            hub.app,
            host=host or settings.host,
            port=port or settings.port,
            log_config=None,
            access_log=False,
        )
        SignalledServer(config, on_exit=hub.end_streams).run()
    finally:
        hub.stop()


@app.command()
def worker(
    concurrency: Annotated[int, typer.Option(help="Worker processes.")] = 2,
    name: Annotated[
        str | None, typer.Option(help="Celery node name. Default: tsunagu-<pid>@<host>.")
    ] = None,
) -> None:
    """Run a Celery worker (production: needs TSUNAGU_BROKER_URL); any number, on any machine."""
    settings = _require_broker()
    try:
        celery = build_worker(settings)
    except HubError as exc:
        _exit_on(exc)
    log.info("tsunagu worker on broker %s", _redact(settings.broker_url))
    # Before the pool forks: its processes inherit the settled heap (and share its pages).
    settle_heap()
    celery.worker_main(
        [
            *_banner_options(settings),
            "worker",
            f"--concurrency={concurrency}",
            f"--hostname={name or f'tsunagu-{os.getpid()}@%h'}",
            f"--loglevel={settings.log_level}",
            # Gossip and mingle only serve remote control; they cost a second at start-up.
            "--without-gossip",
            "--without-mingle",
        ]
    )


@app.command()
def beat() -> None:
    """Run the scheduler, once per deployment (production: needs TSUNAGU_BROKER_URL).

    It only sends the periodic tasks; it keeps its schedule in `{data_dir}/celerybeat-schedule`.
    """
    settings = _require_broker()
    private_directory(settings.data_dir)
    log.info("tsunagu beat on broker %s", _redact(settings.broker_url))
    create_celery(settings, load_tasks=False).start(
        [*_banner_options(settings), "beat", f"--loglevel={settings.log_level}"]
    )


def _require_broker() -> Settings:
    settings = load_settings()
    if settings.embedded:
        err.print(
            "[red]error:[/red] TSUNAGU_BROKER_URL is not set. Set it to redis://… or amqp://… "
            "for separate workers, or run `tsunagu serve`, which works embedded."
        )
        raise typer.Exit(2)
    return settings


def _banner_options(settings: Settings) -> list[str]:
    """JSON logs are read by machines: no Celery start-up banner on stdout between the lines."""
    return ["--quiet"] if settings.log_format == "json" else []


def _exit_normally(_signum: int, _frame: object) -> NoReturn:
    raise SystemExit(0)


def _exit_on(exc: HubError) -> NoReturn:
    """A hub that cannot start says why and what to do, without a traceback."""
    err.print(f"[red]error:[/red] {exc.detail}")
    raise typer.Exit(1) from exc


def _redact(url: str | None) -> str:
    if not url or "@" not in url:
        return url or ""
    scheme, rest = url.split("://", 1)
    return f"{scheme}://***@{rest.split('@', 1)[1]}"


@db_app.command("upgrade")
def db_upgrade(revision: Annotated[str, typer.Argument()] = "head") -> None:
    """Apply pending migrations."""
    from core import crypto
    from core.db import Database

    settings = load_settings()
    crypto.configure(settings)
    database = Database(settings.resolved_database_url)
    before, after = migrate.upgrade(database.engine, revision)
    database.dispose()
    if before == after:
        console.print(f"database already at {after}")
    else:
        console.print(f"database migrated from {before or 'empty'} to {after}")


@sandbox_app.command("line")
def sandbox_line(
    host: Annotated[str, typer.Option(help="Listen address.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Listen port.")] = 8100,
) -> None:
    """Run the sandbox LINE platform (Messaging API, LINE Login, LIFF) for local testing."""
    from sandbox.line.server import serve_forever

    load_settings()
    serve_forever(host, port)


@app.command("config")
def config_reference() -> None:
    """Print the configuration table (every TSUNAGU_* variable) as Markdown."""
    from config.reference import markdown_table

    typer.echo(markdown_table())


@app.command()
def demo(
    port: Annotated[int | None, typer.Option(help="Hub port (TSUNAGU_PORT).")] = None,
    sandbox_port: Annotated[int, typer.Option(help="Sandbox LINE platform port.")] = 8100,
) -> None:
    """Run the hub with the sandbox LINE platform and demo data, until Ctrl-C."""
    from tsunagu import demo as demo_module

    settings = load_settings()
    # The terminal is the demo's: keep the hub's own logs to warnings.
    configure_logging("WARNING", "text")
    console.print("[bold]tsunagu demo[/bold] — starting…")
    running = demo_module.start(
        settings,
        port=port or settings.port,
        sandbox_port=sandbox_port,
        step=lambda text: console.print(f"  [green]✓[/green] {text}"),
    )
    console.print("\n[bold]Where to look[/bold]")
    for label, value in running.where_to_look():
        console.print(f"  {label:<16} {value}", soft_wrap=True, highlight=False)
    console.print("Ctrl-C stops the demo.")
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        console.print("stopping…")
    finally:
        running.stop()


def main() -> None:
    app()
