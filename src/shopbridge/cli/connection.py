"""`shopbridge connection list|show|set|unset`: the connections and their settings.

A value typed for `set` goes through the one settings parser (`sync.settings.parse_setting`), then the
model with the settings it joins, then (when the shop or Visma can be reached) the check against what
it names there (`sync.setting_checks`). A refusal prints one sentence, exits 2 and stores nothing.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from shopbridge.cli.ui import about, console, fail, find_connection, run_async, store

if TYPE_CHECKING:
    from shopbridge.store import Store
    from shopbridge.store.schema import Connection

connection_app = typer.Typer(help="List, show and change connections.", no_args_is_help=True)


@connection_app.command("list")
def connection_list() -> None:
    """Every connection with its shop, Visma API and transfer counts."""
    from shopbridge.sync.context import effective_settings

    s = store()
    table = Table("id", "name", "shop", "visma", "preset", "document", "transferred", "waiting", "paused")
    for c in s.connections.all():
        settings = effective_settings(s, c)
        visma = c.visma_api_base or "Visma (production)"
        if c.parent_id is not None:
            visma = f"shop of {s.connections.get(c.parent_id).name}"
        counts = s.transfers.counts(c.id)
        waiting = counts["waiting_for_fix"] + counts["needs_review"] + counts["pending"]
        table.add_row(
            str(c.id),
            c.name,
            c.starweb_base_url or "-",
            visma,
            settings.preset or "orders only",
            settings.document_type,
            str(counts["transferred"]),
            str(waiting),
            "yes" if c.paused else "",
        )
    console.print(table)


def settings_view(s: Store, c: Connection) -> dict[str, dict[str, Any]]:
    """Each setting's value, default and where the value comes from: "default", "set" (on this
    connection) or "from NAME" (the connection a further shop belongs to)."""
    from shopbridge.sync.context import effective_settings
    from shopbridge.sync.settings import COMPANY_SETTINGS, ConnectionSettings, defaults

    values = effective_settings(s, c).model_dump(mode="json")
    base = defaults()
    own = c.settings or {}
    parent = s.connections.get(c.parent_id) if c.parent_id is not None else None
    out: dict[str, dict[str, Any]] = {}
    for key, field in ConnectionSettings.model_fields.items():
        if (
            parent is not None
            and (key not in own or key in COMPANY_SETTINGS)
            and key in (parent.settings or {})
        ):
            source = f"from {parent.name}"
        elif key in own and (parent is None or key not in COMPANY_SETTINGS):
            source = "set"
        else:
            source = "default"
        out[key] = {
            "value": values[key],
            "default": base[key],
            "changed": values[key] != base[key],
            "source": source,
            "meaning": field.description or "",
        }
    return out


@connection_app.command("show")
def connection_show(
    connection: str,
    as_json: Annotated[bool, typer.Option("--json", help="JSON instead of a table")] = False,
) -> None:
    """A connection's settings; `*` marks what differs from the default (secrets by name only)."""
    s = store()
    c = find_connection(s, connection)
    view = settings_view(s, c)
    secrets = s.secrets.kinds(c.id)
    if as_json:
        body = {
            "id": c.id,
            "name": c.name,
            "shop": c.starweb_base_url,
            "visma": c.visma_api_base,
            "shop_of": s.connections.get(c.parent_id).name if c.parent_id is not None else None,
            "paused": c.paused,
            "secrets": secrets,
            "settings": view,
        }
        typer.echo(json.dumps(body, indent=2, default=str))
        return
    console.print(
        f"[bold]{c.name}[/bold] (id {c.id}) shop {c.starweb_base_url} visma {c.visma_api_base or '-'}"
        + (" [yellow]paused[/yellow]" if c.paused else "")
    )
    console.print(f"secrets: {', '.join(secrets) or 'none'}")
    table = Table("", "setting", "value", "from", "meaning")
    for key, item in view.items():
        table.add_row(
            "*" if item["changed"] else "",
            key,
            json.dumps(item["value"], default=str),
            item["source"],
            item["meaning"],
        )
    console.print(table)
    console.print("* differs from the default · `shopbridge connection unset NAME KEY` restores it")


@connection_app.command(
    "set", context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False}
)
def connection_set(
    connection: str,
    key: str,
    value: Annotated[str, typer.Argument(help="text; true/false; lists as a,b,c; maps as k=v,k=v or JSON")],
    no_check: Annotated[
        bool, typer.Option("--no-check", help="Do not check the value against the shop or Visma")
    ] = False,
) -> None:
    """Change one setting, e.g. `document_type order`, `trigger_statuses completed,picking`."""
    from shopbridge.sync.settings import COMPANY_SETTINGS, parse_bool, parse_setting, validate_settings

    about(connection)
    raw = parse_bool(key, value) if key == "paused" else parse_setting(key, value)  # before the store opens
    s = store()
    c = find_connection(s, connection)
    about(c.name)
    if key == "paused":
        s.connections.update(c.id, paused=raw)
        console.print(f"{c.name}: paused = {json.dumps(raw)}")
        return
    if c.parent_id is not None and key in COMPANY_SETTINGS:
        parent = s.connections.get(c.parent_id).name
        raise fail(f"{key} belongs to the Visma company: set it on {parent!r}, which {c.name!r} is a shop of")
    inherited = _inherited(s, c)
    checked = validate_settings({**(c.settings or {}), key: raw}, inherited, changing=(key, value))
    stored = checked.model_dump(mode="json")[key]
    if not no_check:
        problem, note = run_async(_check_remote(s, c, key, stored))
        if problem:
            raise fail(f"{problem}; nothing was changed")
        if note:
            console.print(f"[yellow]warning:[/yellow] {note}")
    s.connections.update_settings(c.id, {key: stored})
    console.print(f"{c.name}: {key} = {json.dumps(stored)}")


@connection_app.command("unset")
def connection_unset(connection: str, key: str) -> None:
    """Take a setting back to its default (a further shop: back to the value of its Visma company's
    connection)."""
    from shopbridge.sync.settings import ConnectionSettings, validate_settings

    s = store()
    c = find_connection(s, connection)
    about(c.name)
    if key == "paused":
        s.connections.update(c.id, paused=False)
        console.print(f"{c.name}: paused = false")
        return
    if key not in ConnectionSettings.model_fields:
        raise fail(f"unknown setting {key!r}; `shopbridge connection show {c.name}` lists them")
    own = {k: v for k, v in (c.settings or {}).items() if k != key}
    checked = validate_settings(own, _inherited(s, c), changing=(key, None))
    s.connections.update_settings(c.id, {key: None})
    value = checked.model_dump(mode="json")[key]
    origin = "the value of its Visma company's connection" if key in (_inherited(s, c) or {}) else "default"
    console.print(f"{c.name}: {key} = {json.dumps(value)} ({origin})")


def _inherited(s: Store, c: Connection) -> dict[str, Any] | None:
    """A further shop's parent settings (the ones it inherits), else None."""
    if c.parent_id is None:
        return None
    return dict(s.connections.get(c.parent_id).settings or {})


async def _check_remote(s: Store, c: Connection, key: str, value: Any) -> tuple[str | None, str | None]:
    """(problem, note): the problem with `value` in each shop it applies to, or a note when it could not
    be checked. A root connection's value also applies to its further shops that do not set their own."""
    from shopbridge.http.errors import ApiError
    from shopbridge.sync.context import NotConfigured, open_context
    from shopbridge.sync.setting_checks import REMOTE_CHECKS, check_remote

    if key not in REMOTE_CHECKS:
        return None, None
    targets = [c]
    if c.parent_id is None:
        targets += [shop for shop in s.connections.shops(c.id)[1:] if key not in (shop.settings or {})]
    for target in targets:
        try:
            async with open_context(s, target.id) as ctx:
                problem = await check_remote(ctx, key, value)
        except NotConfigured as exc:
            return (
                None,
                f"{key} not checked against the shop or Visma yet ({exc}); `shopbridge doctor` checks it",
            )
        except ApiError as exc:
            return None, (
                f"{key} not checked: {target.name!r} could not be asked ({exc.message}); `shopbridge doctor` "
                "checks it later"
            )
        if problem:
            shop = f" (in shop {target.name!r}, which takes it from {c.name!r})" if target.id != c.id else ""
            return problem + shop, None
    return None, None
