"""`shopbridge connection list|show|set`: the connections and their settings."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from rich.table import Table

from shopbridge.cli.ui import console, fail, find_connection, run_async, store
from shopbridge.sync.context import COMPANY_SETTINGS, effective_settings
from shopbridge.sync.settings import DOCUMENT_TYPES, ConnectionSettings
from shopbridge.sync.setup import check_setting

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
    for kind, consequence in DOCUMENT_TYPES.items():  # the choice and what it means for the books
        mark = "[bold]>[/bold]" if kind == settings.document_type else " "
        console.print(f"{mark} document_type {kind}: {consequence}")
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
    stored, notes = run_async(check_setting(s, c, key, checked.model_dump(mode="json")[key]))
    s.connections.update_settings(c.id, {key: stored})
    console.print(f"{c.name}: {key} = {json.dumps(stored)}")
    for note in notes:
        console.print(f"note: {note}")


@connection_app.command("accounts")
def connection_accounts(connection: str) -> None:
    """The Visma company's bank accounts, for `payment_accounts` (needs the ea:purchase scope)."""
    from shopbridge.sync.context import open_context
    from shopbridge.sync.payments import bank_accounts

    s = store()
    c = find_connection(s, connection)
    settings = effective_settings(s, c)

    async def listed() -> list[Any]:
        async with open_context(s, c.id) as ctx:
            return await bank_accounts(ctx.visma, connection=s.connections.root(c.id).name)

    table = Table("id", "name", "type", "ledger account", "payment methods")
    for a in run_async(listed()):
        methods = [m for m, acc in settings.payment_accounts.items() if acc == str(a.Id)]
        kind = (a.BankAccountTypeDescription or "") + (" (default)" if a.IsDefaultChequeAccount else "")
        table.add_row(str(a.Id), a.Name or "", kind, str(a.LedgerAccountNumber or ""), ", ".join(methods))
    console.print(table)


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
