"""`shopbridge init` and `shopbridge connect starweb|visma`: the data directory and the two connections."""

from __future__ import annotations

import webbrowser
from typing import Annotated

import typer

from shopbridge.cli.ui import console, fail, find_connection, run_async, store

connect_app = typer.Typer(help="Connect a Starweb shop or authorise Visma.", no_args_is_help=True)


def init() -> None:
    """Create the data directory, the encryption key (mode 0600) and the database."""
    s = store()
    s.ensure_key()
    console.print(f"data directory: {s.data_dir}\ndatabase: {s.url}")


@connect_app.command("starweb")
def connect_starweb(
    name: Annotated[str, typer.Option(help="Connection name")],
    client_id: Annotated[str, typer.Option(envvar="STARWEB_CLIENT_ID")],
    client_secret: Annotated[str, typer.Option(envvar="STARWEB_CLIENT_SECRET")],
    shop_id: Annotated[str | None, typer.Option(help="Starweb shop id (https://ID.starwebserver.se)")] = None,
    base_url: Annotated[str | None, typer.Option(help="API base URL, e.g. a sandbox's")] = None,
    shop_of: Annotated[
        str | None,
        typer.Option(help="Multishop: this shop joins that connection's Visma company (no second consent)"),
    ] = None,
) -> None:
    """Connect a Starweb shop: the credentials are checked against the shop, then stored encrypted."""
    from shopbridge.onboarding import STARWEB_URL
    from shopbridge.onboarding import connect_starweb as connect

    if not (shop_id or base_url):
        raise fail("give --shop-id or --base-url")
    url = base_url or STARWEB_URL.format(shop_id=shop_id)
    conn = run_async(
        connect(
            store(), name, base_url=url, client_id=client_id, client_secret=client_secret, shop_of=shop_of
        )
    )
    joined = f", on the Visma company of {shop_of}" if shop_of else ""
    console.print(f"connection [bold]{conn.name}[/bold] (id {conn.id}) uses the shop at {url}{joined}")


@connect_app.command("visma")
def connect_visma(
    connection: Annotated[str, typer.Option(help="Connection name or id")],
    client_id: Annotated[str, typer.Option(envvar="VISMA_CLIENT_ID")],
    client_secret: Annotated[str, typer.Option(envvar="VISMA_CLIENT_SECRET")],
    identity_url: Annotated[str | None, typer.Option(help="Identity server (default: Visma's)")] = None,
    api_base: Annotated[str | None, typer.Option(help="API base (default: Visma's)")] = None,
    code: Annotated[str | None, typer.Option(help="An authorization code you got yourself")] = None,
    redirect_uri: Annotated[str | None, typer.Option(help="The redirect URI the code was issued for")] = None,
    port: Annotated[int, typer.Option(help="Local callback port (0: any free port)")] = 0,
    no_browser: Annotated[bool, typer.Option(help="Only print the consent URL")] = False,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for the consent")] = 300.0,
) -> None:
    """Authorise Visma: opens the consent page and catches the redirect, or takes --code."""
    from shopbridge.onboarding import connect_visma as connect
    from shopbridge.onboarding import consent_scopes
    from shopbridge.sync.payments import PURCHASE_SCOPE

    s = store()
    scopes = consent_scopes(s, find_connection(s, connection))
    if PURCHASE_SCOPE in scopes:
        console.print(
            f"shopbridge also asks for {PURCHASE_SCOPE}: registering payments needs the company's bank "
            "accounts (a connection made before is asked to consent once more; nothing else changes)"
        )

    def show(url: str) -> None:
        console.print(f"Open this page to give shopbridge access to Visma:\n{url}")
        if not no_browser:
            webbrowser.open(url)

    conn = run_async(
        connect(
            s,
            connection,
            client_id=client_id,
            client_secret=client_secret,
            identity_url=identity_url,
            api_base=api_base,
            code=code,
            redirect_uri=redirect_uri,
            open_url=show,
            timeout=timeout,
            callback_port=port,
            scopes=scopes,
        )
    )
    console.print(f"connection [bold]{conn.name}[/bold] is authorised in Visma ({' '.join(scopes)})")
