"""`shopbridge doctor [--fix] [--json]`: the setup check, one line per check and shop, with the fix."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.table import Table

from shopbridge.cli.ui import about, console, find_connection, run_async, store

STYLE = {"ok": "green", "warn": "yellow", "fail": "red"}


def doctor(
    connection: Annotated[
        str | None, typer.Option(help="Only this connection (and the shops of its Visma company)")
    ] = None,
    fix: Annotated[
        bool, typer.Option("--fix", help="Repair what can be repaired (articles, web hooks, file modes)")
    ] = False,
    public_url: Annotated[
        str | None,
        typer.Option(
            envvar="SHOPBRIDGE_PUBLIC_URL", help="Where Starweb reaches `shopbridge run` (web hooks)"
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="JSON instead of a table")] = False,
) -> None:
    """Check every connection for what would stop its orders before they wait: service articles, VAT
    codings, statuses in each shop, web hooks, Visma scopes and modules, plan, capture. Exit 1 when a
    check fails."""
    from shopbridge.doctor import diagnose, exit_code

    about(connection)
    s = store()
    if connection:
        root = s.connections.root(find_connection(s, connection).id)
        named = find_connection(s, connection)
        conns: list[Any] = s.connections.shops(root.id) if named.id == root.id else [named]
    else:
        conns = s.connections.all()
    findings = run_async(diagnose(s, conns, fix=fix, public_url=public_url))
    code = exit_code(findings)
    if as_json:
        typer.echo(json.dumps({"exit_code": code, "findings": [f.as_json() for f in findings]}, indent=2))
        raise typer.Exit(code)
    table = Table("", "connection", "check", "finding", "fix")
    for f in findings:
        mark = f"[{STYLE[f.level]}]{f.level}[/{STYLE[f.level]}]" + (" (fixed)" if f.fixed else "")
        table.add_row(mark, f.connection, f.check, f.message, f.fix or "")
    console.print(table)
    failed = sum(f.level == "fail" for f in findings)
    warned = sum(f.level == "warn" for f in findings)
    if not conns:
        console.print("no connection yet: `shopbridge connect starweb` and `shopbridge connect visma`")
    console.print(
        f"{failed} failing, {warned} warning(s)"
        + ("" if fix or not failed else "; --fix repairs what it can")
    )
    raise typer.Exit(code)
