"""`shopbridge`: the command line. Every command works non-interactively and exits with a meaning:

0 done, nothing waits · 1 done, but orders wait or need review · 2 bad usage or configuration ·
3 a remote system refused the credentials · 4 a remote system could not be reached.

One module per command group; `cli/ui.py` holds what they share (console, errors, progress) and
`cli/failures.py` turns every failure into one sentence and one of those codes. Command modules
import the database, client and web stacks inside their commands, so `shopbridge --help` is quick;
a group whose module cannot help pulling them in is registered with `lazy_group`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from shopbridge.cli import (
    cluster,
    connect,
    connection,
    db,
    doctor,
    engine,
    keys,
    orders,
    products,
    reconcile,
    sync,
    usage,
    users,
)
from shopbridge.cli.ui import ExplainingGroup, fail, lazy_group, set_options

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
LOG_FORMATS = ("console", "json")

app = typer.Typer(
    name="shopbridge",
    help="Keep a Starweb webshop and Visma eEkonomi in sync.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    cls=ExplainingGroup,
    rich_markup_mode=None,  # plain help: rendering it with rich doubles the start-up time
)


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import PackageNotFoundError, version

        try:
            typer.echo(f"shopbridge {version('shopbridge')}")
        except PackageNotFoundError:
            typer.echo("shopbridge (not installed)")
        raise typer.Exit(0)


@app.callback()
def main(
    data_dir: Annotated[
        Path | None, typer.Option(envvar="SHOPBRIDGE_HOME", help="Data directory (database, key)")
    ] = None,
    db: Annotated[
        str | None, typer.Option(envvar="SHOPBRIDGE_DB", help="Database URL (default: SQLite)")
    ] = None,
    log_level: Annotated[
        str, typer.Option(envvar="SHOPBRIDGE_LOG_LEVEL", help="DEBUG, INFO, WARNING, ERROR or CRITICAL")
    ] = "WARNING",
    log_format: Annotated[
        str, typer.Option(envvar="SHOPBRIDGE_LOG_FORMAT", help="console or json")
    ] = "console",
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit"),
    ] = False,
) -> None:
    from shopbridge.logs import configure_logging

    if log_level.upper() not in LOG_LEVELS:
        raise fail(f"--log-level {log_level!r} is not a level: use one of {', '.join(LOG_LEVELS)}")
    if log_format not in LOG_FORMATS:
        raise fail(f"--log-format {log_format!r} is not a format: use console or json")
    configure_logging(log_level, log_format)
    set_options(data_dir=data_dir, db=db)


app.command()(connect.init)
app.add_typer(connect.connect_app, name="connect")
app.add_typer(connection.connection_app, name="connection")
app.command()(sync.sync)
app.command()(reconcile.reconcile)
app.add_typer(orders.orders_app, name="orders")
app.command()(usage.usage)
app.command()(doctor.doctor)
app.command()(engine.run)
app.command()(engine.demo)
app.add_typer(products.products_app, name="products")
app.add_typer(users.users_app, name="users")
app.command()(cluster.worker)
app.command()(cluster.scheduler)
app.command()(cluster.web)
app.add_typer(db.db_app, name="db")
app.add_typer(keys.keys_app, name="keys")
lazy_group(
    "sandbox",
    "shopbridge.sandbox.cli:sandbox_app",
    "Run local sandbox servers that imitate the Starweb Shop API and the Visma eAccounting API.",
)

__all__ = ["app"]
