"""`shopbridge run` (the embedded engine) and `shopbridge demo` (both sandboxes, a real sync)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from shopbridge.cli.ui import console, fail, run_async, store


def run(
    host: Annotated[str, typer.Option(help="Listen address for hooks, /healthz, /metrics")] = "127.0.0.1",
    port: Annotated[int, typer.Option()] = 8100,
    public_url: Annotated[
        str | None, typer.Option(envvar="SHOPBRIDGE_PUBLIC_URL", help="Where Starweb can reach the hooks")
    ] = None,
    interval: Annotated[
        float | None, typer.Option(help="Seconds between sweeps (default: per connection)")
    ] = None,
) -> None:
    """The engine: every connection's sweeps on a schedule and on web hook hints, until Ctrl-C."""
    from shopbridge.engine.embedded import run_embedded

    run_async(run_embedded(store(), host=host, port=port, public_url=public_url, interval_s=interval))


def demo(
    no_serve: Annotated[bool, typer.Option("--no-serve", help="Exit after the sync")] = False,
    port: Annotated[int, typer.Option(help="Engine port while serving (0: any free port)")] = 0,
    data_dir: Annotated[Path | None, typer.Option(help="Where the demo keeps its data")] = None,
    preset: Annotated[
        str | None, typer.Option(help="Also sync the catalogue: ecom-master, erp-master or combo")
    ] = None,
    shops: Annotated[int, typer.Option(min=1, help="Shops on the one Visma company (multishop)")] = 1,
    document_type: Annotated[
        str, typer.Option(help="invoice_draft, order or invoice (booked, paid or sent at once)")
    ] = "invoice_draft",
) -> None:
    """Both sandboxes with demo data, a connection made like a user makes one, every order transferred."""
    from shopbridge.demo import run_demo

    if preset not in (None, "ecom-master", "erp-master", "combo"):
        raise fail("--preset is ecom-master, erp-master or combo")
    if document_type not in ("invoice_draft", "order", "invoice"):
        raise fail("--document-type is invoice_draft, order or invoice")
    code = run_async(
        run_demo(
            console,
            serve=not no_serve,
            port=port,
            data_dir=data_dir,
            preset=preset,
            shops=shops,
            document_type=document_type,
        )
    )
    raise typer.Exit(code)
