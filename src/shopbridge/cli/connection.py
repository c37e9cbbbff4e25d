"""`shopbridge connection list|show|set`: the connections and their settings."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from rich.table import Table

from shopbridge.cli.ui import console, fail, find_connection, store
from shopbridge.sync.context import COMPANY_SETTINGS, effective_settings
from shopbridge.sync.settings import ConnectionSettings

connection_app = typer.Typer(help="List, show and change connections.", no_args_is_help=True)


@connection_app.command("list")
def connection_list() -> None:
    """Every connection with its shop, Visma API and transfer counts."""
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


@connection_app.command("show")
def connection_show(connection: str) -> None:
    """A connection's settings (secrets are listed by name only)."""
    s = store()
    c = find_connection(s, connection)
    settings = effective_settings(s, c)
    console.print(
        f"[bold]{c.name}[/bold] (id {c.id}) shop {c.starweb_base_url} visma {c.visma_api_base or '-'}"
    )
    console.print(f"secrets: {', '.join(s.secrets.kinds(c.id)) or 'none'}")
    table = Table("setting", "value", "meaning")
    for key, field in ConnectionSettings.model_fields.items():
        value = getattr(settings, key)
        table.add_row(key, json.dumps(value, default=str), field.description or "")
    console.print(table)


@connection_app.command("set")
def connection_set(
    connection: str,
    key: str,
    value: Annotated[str, typer.Argument(help="JSON, or text; lists as a,b,c")],
) -> None:
    """Change one setting, e.g. `document_type order`, `trigger_statuses completed,picking`."""
    s = store()
    c = find_connection(s, connection)
    if key == "paused":
        s.connections.update(c.id, paused=value.lower() in ("1", "true", "yes"))
        console.print(f"{c.name}: paused = {value}")
        return
    if key not in ConnectionSettings.model_fields:
        raise fail(f"unknown setting {key!r}; see `shopbridge connection show {c.name}`")
    if c.parent_id is not None and key in COMPANY_SETTINGS:
        parent = s.connections.get(c.parent_id).name
        raise fail(f"{key} belongs to the Visma company: set it on {parent!r}, which {c.name!r} is a shop of")
    parsed = _parse_value(value, ConnectionSettings.model_fields[key].annotation)
    merged = {**(c.settings or {}), key: parsed}
    try:
        checked = ConnectionSettings.model_validate(merged)
    except ValidationError as exc:
        raise fail(f"{key}: {exc.errors()[0]['msg']}") from None
    s.connections.update_settings(c.id, {key: checked.model_dump(mode="json")[key]})
    console.print(f"{c.name}: {key} = {json.dumps(checked.model_dump(mode='json')[key])}")


def _parse_value(value: str, annotation: Any) -> Any:
    try:
        return json.loads(value)
    except json.JSONDecodeError:
        pass
    if "list" in str(annotation):
        return [v.strip() for v in value.split(",") if v.strip()]
    if "dict" in str(annotation):
        return dict(part.split("=", 1) for part in value.split(",") if "=" in part)
    return value
