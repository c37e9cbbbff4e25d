"""`shopbridge run` (the embedded engine) and `shopbridge demo` (both sandboxes, a real sync)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from shopbridge.cli.ui import console, fail, run_async, store

OPS_PORT = 8180  # = engine.embedded.OPS_PORT (not imported: keeps --help quick)


def run(
    host: Annotated[
        str, typer.Option(help="Listen address for web hooks and the OAuth callback")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port for web hooks and the OAuth callback")] = 8100,
    public_url: Annotated[
        str | None, typer.Option(envvar="SHOPBRIDGE_PUBLIC_URL", help="Where Starweb can reach the hooks")
    ] = None,
    interval: Annotated[
        float | None, typer.Option(help="Seconds between sweeps (default: per connection)")
    ] = None,
    ops_host: Annotated[
        str, typer.Option(envvar="SHOPBRIDGE_OPS_HOST", help="Address of /healthz and /metrics (loopback)")
    ] = "127.0.0.1",
    ops_port: Annotated[
        int, typer.Option(envvar="SHOPBRIDGE_OPS_PORT", help="Port of /healthz and /metrics (-1: none)")
    ] = OPS_PORT,
    ops_token: Annotated[
        str | None,
        typer.Option(
            envvar="SHOPBRIDGE_OPS_TOKEN",
            help="Bearer token for /healthz and /metrics; with it they are also served on --port",
        ),
    ] = None,
) -> None:
    """The engine: every connection's sweeps on a schedule and on web hook hints, until Ctrl-C.

    /healthz and /metrics are served on --ops-host:--ops-port (127.0.0.1:8180), not on the public
    port, unless --ops-token is set (then they need `Authorization: Bearer TOKEN` everywhere).
    """
    from shopbridge.engine.embedded import run_embedded

    run_async(
        run_embedded(
            store(),
            host=host,
            port=port,
            public_url=public_url,
            interval_s=interval,
            console=console,
            ops_host=ops_host,
            ops_port=None if ops_port < 0 else ops_port,
            ops_token=ops_token,
        )
    )


EXIT_MEANING = {
    0: "exit 0: every qualifying order was transferred and nothing waits",
    1: "exit 1: the sync ran, and some demo orders wait or need review on purpose (the demo data holds "
    "orders with problems: unknown SKUs, missing addresses, ...); `orders list` shows why",
    2: "exit 2: a setting or the command line was refused",
    3: "exit 3: a sandbox refused the credentials",
    4: "exit 4: a sandbox could not be reached",
}


def demo(
    no_serve: Annotated[bool, typer.Option("--no-serve", help="Exit after the sync")] = False,
    port: Annotated[int, typer.Option(help="Engine port while serving (0: any free port)")] = 0,
    data_dir: Annotated[Path | None, typer.Option(help="Where the demo keeps its data")] = None,
    preset: Annotated[
        str | None, typer.Option(help="Also sync the catalogue: ecom-master, erp-master or combo")
    ] = None,
    shops: Annotated[int, typer.Option(min=1, help="Shops on the one Visma company (multishop)")] = 1,
) -> None:
    """Both sandboxes with demo data, a connection made like a user makes one, every order transferred.

    Exits like `sync`: 0 nothing waits, 1 some demo orders wait (the demo data holds bad orders on
    purpose), 2-4 something stopped it. The last line says which and why.
    """
    from shopbridge.demo import run_demo

    if preset not in (None, "ecom-master", "erp-master", "combo"):
        raise fail("--preset is ecom-master, erp-master or combo")
    code = run_async(
        run_demo(console, serve=not no_serve, port=port, data_dir=data_dir, preset=preset, shops=shops)
    )
    console.print(EXIT_MEANING.get(code, f"exit {code}"))
    raise typer.Exit(code)
