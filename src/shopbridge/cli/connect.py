"""`shopbridge init` and `shopbridge connect starweb|visma`: the data directory and the two connections.

Connecting never breaks a working connection: the shop's credentials are checked before anything is
stored, an existing name is re-pointed at another shop only with `--replace`, and Visma's token is
exchanged and tried on the API before the app, addresses and token replace the old ones.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlsplit

import typer

from shopbridge.cli.ui import about, console, fail, run_async, store

connect_app = typer.Typer(help="Connect a Starweb shop or authorise Visma.", no_args_is_help=True)

DEFAULT_CALLBACK_PORT = 8765  # = onboarding.DEFAULT_CALLBACK_PORT (not imported: keeps --help quick)


def init() -> None:
    """Create the data directory (0700), the encryption key (0600) and the database (0600)."""
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
    replace: Annotated[
        bool, typer.Option("--replace", help="Point an existing connection of this name at another shop")
    ] = False,
) -> None:
    """Connect a Starweb shop: the credentials are checked against the shop, then stored encrypted."""
    from shopbridge.onboarding import STARWEB_URL
    from shopbridge.onboarding import connect_starweb as connect

    about(name)
    if not (shop_id or base_url):
        raise fail("give --shop-id or --base-url")
    url = base_url or STARWEB_URL.format(shop_id=shop_id)
    conn = run_async(
        connect(
            store(),
            name,
            base_url=url,
            client_id=client_id,
            client_secret=client_secret,
            shop_of=shop_of,
            replace=replace,
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
    code: Annotated[
        str | None,
        typer.Option(help="Headless: an authorization code you got yourself (with --redirect-uri)"),
    ] = None,
    redirect_uri: Annotated[
        str | None,
        typer.Option(
            help="The redirect URI registered for your Visma app. With --code: the one the code was issued "
            "for. A public https://HOST/oauth/visma/callback: `shopbridge run` there finishes the consent"
        ),
    ] = None,
    port: Annotated[
        int,
        typer.Option(help="Local callback port: the redirect URI is http://127.0.0.1:PORT/callback (0: any)"),
    ] = DEFAULT_CALLBACK_PORT,
    scope: Annotated[
        list[str] | None, typer.Option("--scope", help="A further Visma scope to ask for (e.g. ea:purchase)")
    ] = None,
    no_browser: Annotated[bool, typer.Option(help="Only print the consent URL")] = False,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for the consent")] = 300.0,
) -> None:
    """Authorise Visma: opens the consent page and catches the redirect, or takes --code.

    Nothing changes on the connection until Visma has exchanged the code and the new token works.
    """
    from shopbridge import onboarding

    about(connection)
    s = store()

    def show(url: str) -> None:
        console.print("Open this page to give shopbridge access to Visma:")
        typer.echo(url)  # one line, never wrapped: copy it whole
        if not no_browser:
            import webbrowser

            webbrowser.open(url)

    def show_redirect(uri: str) -> None:
        console.print(f"redirect URI (register it for your app in Visma's developer portal): {uri}")

    if redirect_uri and not code and _served_by_run(redirect_uri):
        show_redirect(redirect_uri)
        url = onboarding.start_consent(
            s,
            connection,
            client_id=client_id,
            client_secret=client_secret,
            redirect_uri=redirect_uri,
            identity_url=onboarding.check_url(identity_url, "--identity-url") if identity_url else None,
            api_base=onboarding.check_url(api_base, "--api-base") if api_base else None,
            scopes=scope,
        )
        show(url)
        console.print(f"waiting for `shopbridge run` at {redirect_uri} to finish the consent ...")
        conn = run_async(onboarding.wait_for_consent(s, connection, timeout))
    else:
        if redirect_uri and not code:  # a loopback redirect URI: listen where it points
            port = urlsplit(redirect_uri).port or 80
        conn = run_async(
            onboarding.connect_visma(
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
                scopes=scope,
                on_redirect_uri=show_redirect,
            )
        )
    console.print(f"connection [bold]{conn.name}[/bold] is authorised in Visma")


def _served_by_run(uri: str) -> bool:
    """A redirect URI that is not this machine's loopback callback: `shopbridge run` serves it."""
    parts = urlsplit(uri)
    return parts.path.rstrip("/").endswith("/oauth/visma/callback") or parts.hostname not in (
        "127.0.0.1",
        "localhost",
        "::1",
    )
