"""`shopbridge`: the command line. Every command works non-interactively and exits with a meaning:

0 done, nothing waits · 1 done, but orders wait or need review · 2 bad usage or configuration ·
3 a remote system refused the credentials · 4 a remote system could not be reached.

One module per command group; `cli/ui.py` holds what they share (console, errors, progress).
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
    engine,
    keys,
    orders,
    products,
    sync,
    usage,
    users,
)
from shopbridge.cli.ui import set_options
from shopbridge.logs import configure_logging
from shopbridge.sandbox.cli import sandbox_app

app = typer.Typer(
    name="shopbridge",
    help="Keep a Starweb webshop and Visma eEkonomi in sync.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)


@app.callback()
def main(
    data_dir: Annotated[
        Path | None, typer.Option(envvar="SHOPBRIDGE_HOME", help="Data directory (database, key)")
    ] = None,
    db: Annotated[
        str | None, typer.Option(envvar="SHOPBRIDGE_DB", help="Database URL (default: SQLite)")
    ] = None,
    log_level: Annotated[str, typer.Option(envvar="SHOPBRIDGE_LOG_LEVEL")] = "WARNING",
    log_format: Annotated[
        str, typer.Option(envvar="SHOPBRIDGE_LOG_FORMAT", help="console or json")
    ] = "console",
) -> None:
    configure_logging(log_level, log_format)
    set_options(data_dir=data_dir, db=db)


app.command()(connect.init)
app.add_typer(connect.connect_app, name="connect")
app.add_typer(connection.connection_app, name="connection")
app.command()(sync.sync)
app.add_typer(orders.orders_app, name="orders")
app.command()(usage.usage)
app.command()(engine.run)
app.command()(engine.demo)
app.add_typer(products.products_app, name="products")
app.add_typer(users.users_app, name="users")
app.add_typer(sandbox_app, name="sandbox")
app.command()(cluster.worker)
app.command()(cluster.scheduler)
app.command()(cluster.web)
app.add_typer(db.db_app, name="db")
app.add_typer(keys.keys_app, name="keys")

__all__ = ["app"]
