"""`shopbridge sync --once`: one sweep of every connection, with a summary and an exit code."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from shopbridge.cli.ui import (
    about,
    connections,
    console,
    outcomes_json,
    print_reports,
    run_async,
    store,
    sweep_all,
)


def sync(
    once: Annotated[
        bool, typer.Option("--once", help="One sweep, then exit (the only mode; `run` loops)")
    ] = True,
    connection: Annotated[str | None, typer.Option(help="Only this connection")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="JSON instead of tables")] = False,
) -> None:
    """Sweep every connection once: transfer all qualifying orders, show what happened.

    Exit 0 when nothing waits, 1 when orders wait (from this sweep or before), 2 when a setting was
    refused, 3 when credentials were refused, 4 when the shop or Visma could not be reached. A
    connection that fails does not stop the others.
    """
    about(connection)
    s = store()
    outcomes = run_async(sweep_all(s, connections(s, connection), show_progress=not as_json))
    if as_json:
        with console.capture():
            code = print_reports(s, outcomes)
        typer.echo(json.dumps({"exit_code": code, "connections": outcomes_json(outcomes)}, indent=2))
        raise typer.Exit(code)
    raise typer.Exit(print_reports(s, outcomes))
