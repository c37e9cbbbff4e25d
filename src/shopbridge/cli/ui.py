"""What every command shares: the console, exit codes, failures as one sentence, the progress bar,
the store named by the global options, connection look-up, and the sweep summary.

The demo uses this module too; it never imports command modules. Heavy stacks (the database, the
clients, the web server) are imported inside the functions that need them, so `shopbridge --help`
starts fast.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console
from rich.table import Table
from typer.core import TyperGroup

from shopbridge.cli.failures import (
    CONNECTION,
    DATABASE,
    EXIT_AUTH,
    EXIT_CONFIG,
    EXIT_OK,
    EXIT_UNREACHABLE,
    EXIT_WAITING,
    Failure,
    about,
    explain,
)

if TYPE_CHECKING:
    from rich.progress import Progress

    from shopbridge.store import Store
    from shopbridge.sync.base import SweepReport

__all__ = [
    "EXIT_AUTH",
    "EXIT_CONFIG",
    "EXIT_OK",
    "EXIT_UNREACHABLE",
    "EXIT_WAITING",
    "ExplainingGroup",
    "SweepOutcome",
    "about",
    "connections",
    "console",
    "fail",
    "find_connection",
    "outcomes_json",
    "print_reports",
    "progress_bar",
    "run_async",
    "store",
    "sweep_all",
]

console = Console()
_opts: dict[str, Any] = {}


def _debug(event: str, **kw: Any) -> None:
    """Log at DEBUG (the traceback of a failure goes here, never to the user's screen)."""
    import structlog

    structlog.get_logger("shopbridge.cli").debug(event, **kw)


def _is_click_control(exc: BaseException) -> bool:
    """typer/click's own exits, aborts and usage errors (they print and exit themselves)."""
    return any(c.__name__ in ("Exit", "Abort", "ClickException") for c in type(exc).__mro__)


LAZY_GROUPS: dict[str, tuple[str, str]] = {}
"""Command groups imported only when used: name -> ("module:attribute", one-line help)."""


def lazy_group(name: str, target: str, help: str) -> None:
    """Register a command group whose module is imported only when the group is run (keeps
    `shopbridge --help` fast when the group pulls in a web or database stack)."""
    LAZY_GROUPS[name] = (target, help)


class ExplainingGroup(TyperGroup):
    """The top command group: loads lazy groups on use, and turns any failure into one sentence and
    an exit code (`explain`); the traceback goes to the log at DEBUG only."""

    def list_commands(self, ctx: Any) -> list[str]:
        names = list(super().list_commands(ctx))
        return names + [n for n in LAZY_GROUPS if n not in names]

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        found = super().get_command(ctx, cmd_name)
        if found is None and cmd_name in LAZY_GROUPS:
            from typer.core import TyperCommand

            help_text = LAZY_GROUPS[cmd_name][1]
            return TyperCommand(name=cmd_name, help=help_text, short_help=help_text)  # listed in --help
        return found

    def resolve_command(self, ctx: Any, args: list[str]) -> Any:
        if args and args[0] in LAZY_GROUPS and args[0] not in self.commands:
            import importlib

            module, attribute = LAZY_GROUPS[args[0]][0].split(":")
            group = typer.main.get_command(getattr(importlib.import_module(module), attribute))
            group.name = args[0]
            self.commands[args[0]] = group
        return super().resolve_command(ctx, args)

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except Exception as exc:
            if _is_click_control(exc):
                raise
            failure = explain(exc)
            _debug("cli.failure", exc_info=exc)
            raise fail(failure.sentence, failure.code) from None


def set_options(*, data_dir: Path | None, db: str | None) -> None:
    """Remember the global options (`--data-dir`, `--db`) for `store()`."""
    _opts.update(data_dir=data_dir, db=db)


def store() -> Store:
    """The store named by --db / --data-dir (opened once per command, migrated on open)."""
    if "store" not in _opts:
        from shopbridge.store import open_store
        from shopbridge.store.paths import db_path, default_data_dir

        db, data_dir = _opts.get("db"), _opts.get("data_dir")
        shown = _hide_password(db) if db else str(db_path(data_dir or default_data_dir()))
        DATABASE.set(shown)
        _opts["store"] = open_store(db, data_dir=data_dir)
    return _opts["store"]


def _hide_password(url: str) -> str:
    head, sep, tail = url.partition("://")
    if sep and "@" in tail:
        creds, _, rest = tail.rpartition("@")
        user = creds.split(":", 1)[0]
        return f"{head}://{user}{':***' if ':' in creds else ''}@{rest}"
    return url


def fail(message: str, code: int = EXIT_CONFIG) -> typer.Exit:
    """Print one sentence and return the `typer.Exit` to raise with `code`."""
    console.print(f"[red]error:[/red] {message}", soft_wrap=True)  # one line, also in pipes and logs
    return typer.Exit(code)


def run_async(coro: Any) -> Any:
    """Run a coroutine from a command; a failure becomes one sentence and an exit code where every
    failure does (`ExplainingGroup.invoke`, `cli/failures.py`)."""
    import asyncio

    return asyncio.run(coro)


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
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn

    return Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        console=console,
        disable=disable,
        transient=True,
    )


@dataclass
class SweepOutcome:
    """One connection's sweep as the CLI shows it: the report, or the failure that stopped it, and
    which systems could not be reached on the way."""

    name: str
    report: SweepReport | None = None
    failure: Failure | None = None
    unreachable: list[str] = field(default_factory=list)
    waiting_total: int = 0  # this connection's orders waiting after the sweep (all, not only this sweep's)


async def sweep_all(s: Store, conns: list[Any], *, show_progress: bool = False) -> list[SweepOutcome]:
    """One sweep per connection, one after the other, with a progress bar. A connection that fails is
    reported and the others still sweep."""
    from shopbridge.sync.context import open_context
    from shopbridge.sync.flows import sweep_connection

    outcomes = []
    with progress_bar(disable=not show_progress) as progress:
        for c in conns:
            task = progress.add_task(f"{c.name}: orders", total=None)

            def tick(event: str, n: int, task: Any = task) -> None:
                if event == "found":
                    current = progress.tasks[task].total or 0
                    progress.update(task, total=current + n)
                else:
                    progress.advance(task, n)

            outcome = SweepOutcome(c.name)
            token = CONNECTION.set(c.name)
            try:
                async with open_context(s, c.id) as ctx:
                    try:
                        outcome.report = await sweep_connection(ctx, on_progress=tick)
                    finally:
                        outcome.unreachable = _unreachable(ctx)
            except Exception as exc:
                if _is_click_control(exc):
                    raise
                _debug("cli.sweep_failed", connection=c.name, exc_info=exc)
                outcome.failure = explain(exc)
            finally:
                CONNECTION.reset(token)
            outcome.waiting_total = _waiting(s, c.id)
            outcomes.append(outcome)
    return outcomes


def _unreachable(ctx: Any) -> list[str]:
    """Sentences for the systems a sweep gave calls up on for want of an answer."""
    out = []
    for label, client in (("the Starweb shop", ctx.starweb), ("Visma", ctx.visma)):
        n = client.stats.get("unreachable")
        if n:
            out.append(
                f"{label} could not be reached at {client.base_url} ({n} call(s) without an answer): what "
                "waits is retried by the next sweep"
            )
    return out


WAITING_STATES = ("waiting_for_fix", "needs_review", "waiting_for_quota")


def _waiting(s: Store, connection_id: int) -> int:
    counts = s.transfers.counts(connection_id)
    return sum(counts[k] for k in WAITING_STATES)


def print_reports(s: Store, outcomes: list[SweepOutcome]) -> int:
    """The summary table of a sweep, then what waits and why; returns the exit code: 4 when a system
    could not be reached, 3/2 when a connection could not sweep, 2 for settings the sweep refused,
    1 when anything waits (this sweep's or earlier orders), else 0."""
    table = Table(
        "connection", "transferred", "needs review", "waiting", "catalogue", "API calls", "waiting in all"
    )
    code = EXIT_OK
    for o in outcomes:
        if o.failure is not None:
            table.add_row(o.name, "-", "-", "-", "-", "-", str(o.waiting_total))
            code = max(code, o.failure.code)
            continue
        r = o.report
        assert r is not None
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
        waiting = ", ".join(f"{n} {what}" for what, n in parts.items() if n) or "0"
        drift = sum(n for k, n in c.items() if k.endswith("_drift"))  # restored: the other side changed it
        catalogue = f"{written} written, {catalogue_waiting} waiting" if written or catalogue_waiting else "-"
        if drift:
            catalogue += f" ({drift} restored)"
        table.add_row(
            r.connection,
            str(c["transferred"]),
            str(c["needs_review"]),
            waiting,
            catalogue,
            str(r.api_calls),
            str(o.waiting_total),
        )
        if sum(parts.values()) + c["needs_review"] + catalogue_waiting + o.waiting_total:
            code = max(code, EXIT_WAITING)
        if c["config_error"]:
            code = max(code, EXIT_CONFIG)
        if o.unreachable:
            code = max(code, EXIT_UNREACHABLE)
    console.print(table)
    for o in outcomes:
        if o.report is not None and o.report.waiting:
            detail = Table("item", "why it waits", title=f"{o.name}: waiting", title_justify="left")
            for ref, reason in sorted(o.report.waiting.items(), key=lambda kv: kv[0].zfill(12)):
                detail.add_row(ref, reason)
            console.print(detail)
    for o in outcomes:
        for sentence in o.unreachable if o.failure is None else []:
            console.print(f"[red]error:[/red] {o.name}: {sentence}", soft_wrap=True)
        if o.failure is not None:
            console.print(f"[red]error:[/red] {o.name}: {o.failure.sentence}", soft_wrap=True)
        elif o.waiting_total:
            console.print(
                f"{o.name}: {o.waiting_total} order(s) wait in all: "
                f"`shopbridge orders list --connection {o.name} --state waiting_for_fix` (or needs_review)"
            )
    return code


def outcomes_json(outcomes: list[SweepOutcome]) -> list[dict[str, Any]]:
    """The sweep outcomes as JSON-ready dicts (`sync --json`)."""
    out = []
    for o in outcomes:
        r = o.report
        out.append(
            {
                "connection": o.name,
                "counts": dict(r.counts) if r else {},
                "waiting": dict(r.waiting) if r else {},
                "api_calls": r.api_calls if r else 0,
                "waiting_in_all": o.waiting_total,
                "unreachable": o.unreachable,
                "error": {"exit_code": o.failure.code, "message": o.failure.sentence} if o.failure else None,
            }
        )
    return out


def _is_write(count_key: str) -> bool:
    return count_key.endswith(("_create", "_update"))
