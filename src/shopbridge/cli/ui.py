"""What every command shares: the console, exit codes, failures as one sentence, the progress bar,
the store named by the global options, connection look-up, and the sweep summary.

The demo uses this module too; it never imports command modules.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn
from rich.table import Table

if TYPE_CHECKING:
    from shopbridge.store import Store
    from shopbridge.sync.base import SweepReport

console = Console()
EXIT_OK, EXIT_WAITING, EXIT_CONFIG, EXIT_AUTH, EXIT_UNREACHABLE = 0, 1, 2, 3, 4
_opts: dict[str, Any] = {}


def set_options(*, data_dir: Path | None, db: str | None) -> None:
    """Remember the global options (`--data-dir`, `--db`) for `store()`."""
    _opts.update(data_dir=data_dir, db=db)


def store() -> Store:
    """The store named by --db / --data-dir (opened once per command, migrated on open)."""
    from shopbridge.store import open_store

    if "store" not in _opts:
        _opts["store"] = open_store(_opts.get("db"), data_dir=_opts.get("data_dir"))
    return _opts["store"]


def fail(message: str, code: int = EXIT_CONFIG) -> typer.Exit:
    """Print one sentence and return the `typer.Exit` to raise with `code`."""
    console.print(f"[red]error:[/red] {message}")
    return typer.Exit(code)


def run_async(coro: Any) -> Any:
    """Run a coroutine, turning the failures a user can act on into a message and an exit code."""
    from shopbridge.http.errors import ApiError, AuthenticationError, TransportError
    from shopbridge.store import UnknownConnection
    from shopbridge.sync.context import NotConfigured

    try:
        return asyncio.run(coro)
    except (NotConfigured, UnknownConnection, ValueError) as exc:
        raise fail(str(exc)) from None
    except AuthenticationError as exc:
        raise fail(f"{exc.service or 'remote'} refused the credentials: {exc.message}", EXIT_AUTH) from None
    except TransportError as exc:
        raise fail(
            f"{exc.service or 'remote'} could not be reached: {exc.message}", EXIT_UNREACHABLE
        ) from None
    except ApiError as exc:
        raise fail(str(exc)) from None


def find_connection(s: Store, connection: str) -> Any:
    """The connection named (or numbered) `connection`, or exit 2 with a sentence."""
    from shopbridge.store import UnknownConnection

    try:
        return s.connections.find(connection)
    except UnknownConnection as exc:
        raise fail(str(exc)) from None


def connections(s: Store, connection: str | None) -> list[Any]:
    """The named connection, or every active one; exit 2 when there is none yet."""
    if connection:
        return [find_connection(s, connection)]
    found = s.connections.all(include_paused=False)
    if not found:
        raise fail("no connection yet: run `shopbridge connect starweb` and `shopbridge connect visma`")
    return found


def progress_bar(*, disable: bool = False) -> Progress:
    """The progress bar every long command shows (spinner, text, bar, done/total; gone when finished)."""
    return Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        console=console,
        disable=disable,
        transient=True,
    )


async def sweep_all(s: Store, conns: list[Any], *, show_progress: bool = False) -> list[SweepReport]:
    """One sweep per connection, one after the other, with a progress bar."""
    from shopbridge.sync.context import open_context
    from shopbridge.sync.flows import sweep_connection

    reports = []
    with progress_bar(disable=not show_progress) as progress:
        for c in conns:
            task = progress.add_task(f"{c.name}: orders", total=None)

            def tick(event: str, n: int, task: Any = task) -> None:
                if event == "found":
                    current = progress.tasks[task].total or 0
                    progress.update(task, total=current + n)
                else:
                    progress.advance(task, n)

            async with open_context(s, c.id) as ctx:
                reports.append(await sweep_connection(ctx, on_progress=tick))
    return reports


def print_reports(s: Store, reports: list[SweepReport]) -> int:
    """The summary table of a sweep, then what waits and why; returns the exit code."""
    table = Table("connection", "transferred", "needs review", "waiting", "catalogue", "API calls")
    waiting_total = 0
    for r in reports:
        c = r.counts
        written = sum(n for k, n in c.items() if k.split("_")[0] in ("article", "product") and _is_write(k))
        catalogue_waiting = sum(n for k, n in c.items() if k.endswith(("_error", "_conflict", "_failed")))
        parts = {
            "for a fix": c["waiting_for_fix"],
            "for quota": c["waiting_for_quota"],
            "retry later": c["retry_later"] + c["error"],
            "in doubt": c["in_doubt"],
            "config": c["config_error"],
        }
        waiting_total += sum(parts.values()) + c["needs_review"] + catalogue_waiting
        waiting = ", ".join(f"{n} {what}" for what, n in parts.items() if n) or "0"
        catalogue = f"{written} written, {catalogue_waiting} waiting" if written or catalogue_waiting else "-"
        table.add_row(
            r.connection, str(c["transferred"]), str(c["needs_review"]), waiting, catalogue, str(r.api_calls)
        )
    console.print(table)
    for r in reports:
        if r.waiting:
            detail = Table("item", "why it waits", title=f"{r.connection}: waiting", title_justify="left")
            for ref, reason in sorted(r.waiting.items(), key=lambda kv: kv[0].zfill(12)):
                detail.add_row(ref, reason)
            console.print(detail)
    return EXIT_WAITING if waiting_total else EXIT_OK


def _is_write(count_key: str) -> bool:
    return count_key.endswith(("_create", "_update"))
