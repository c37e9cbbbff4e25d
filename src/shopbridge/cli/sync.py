"""`shopbridge sync --once`: one sweep of every connection, with a summary and an exit code."""

from __future__ import annotations

from typing import Annotated

import typer

from shopbridge.cli.ui import connections, print_reports, run_async, store, sweep_all


def sync(
    once: Annotated[
        bool, typer.Option("--once", help="One sweep, then exit (the only mode; `run` loops)")
    ] = True,
    connection: Annotated[str | None, typer.Option(help="Only this connection")] = None,
) -> None:
    """Sweep every connection once: transfer all qualifying orders, show what happened."""
    s = store()
    reports = run_async(sweep_all(s, connections(s, connection), show_progress=True))
    raise typer.Exit(print_reports(s, reports))
