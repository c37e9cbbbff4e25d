"""`shopbridge products ...`: the initial product sync (preview, then apply) and catalogue problems."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import typer
from rich.table import Table

if TYPE_CHECKING:
    from shopbridge.sync.catalog import CatalogPlan

products_app = typer.Typer(
    help="Products, prices and stock: initial sync and problems.", no_args_is_help=True
)

Source = Literal["starweb", "visma"]


@products_app.command("initial")
def initial(
    source: Annotated[str, typer.Option("--from", help="starweb (shop → Visma articles) or visma (→ shop)")],
    apply: Annotated[
        bool, typer.Option("--apply/--dry-run", help="Write, or only show what would be done")
    ] = False,
    connection: Annotated[str | None, typer.Option(help="The connection (default: the only one)")] = None,
    csv: Annotated[Path | None, typer.Option(help="Also write the report as CSV here")] = None,
    show: Annotated[int, typer.Option(help="Rows of the report to print (0: all)")] = 50,
) -> None:
    """Match on SKU = article number, report to-create / to-update / conflicts / skipped, then apply.

    The preset's directions hold: in combo the shop's prices never replace Visma's (a difference is
    listed as a conflict with both values) and the shop's stock becomes the new articles' opening stock.

    An interrupted apply resumes where it stopped (what is done is bound and hashed); a second apply
    changes nothing.
    """
    from shopbridge.cli.ui import EXIT_OK, EXIT_WAITING, connections, console, fail, run_async, store

    if source not in ("starweb", "visma"):
        raise fail("--from is starweb or visma")
    s = store()
    conns = connections(s, connection)
    if len(conns) > 1:
        raise fail("several connections: name one with --connection")
    plan, done = run_async(_initial(s, conns[0].id, source, apply=apply, console=console))
    _print_plan(console, plan, show=show)
    if csv is not None:
        from shopbridge.store.paths import private_file

        private_file(csv)  # created 0600 before anything is written: it names products and prices
        plan.write_csv(csv)
        console.print(f"report written to {csv}")
    if apply:
        console.print(f"applied: {dict(done) or 'nothing to write'}")
    bad = plan.counts["conflict"] + plan.counts["error"]
    raise typer.Exit(EXIT_WAITING if bad else EXIT_OK)


async def _initial(
    s: Any, connection_id: int, source: str, *, apply: bool, console: Any
) -> tuple[CatalogPlan, Any]:
    from shopbridge.cli.ui import progress_bar
    from shopbridge.sync.articles import ArticleExportFlow
    from shopbridge.sync.context import open_context
    from shopbridge.sync.directions import one_way
    from shopbridge.sync.shop_catalog import ShopCatalogFlow

    async with open_context(s, connection_id) as ctx:
        if source == "starweb" and not ctx.settings.product_master:
            raise ValueError(
                f"{ctx.name} is not the product master shop (product_master false): nothing to send"
            )
        ctx.settings = one_way(ctx.settings, source)
        flow = ArticleExportFlow(ctx) if source == "starweb" else ShopCatalogFlow(ctx)
        if not flow.active:
            to = "Visma" if source == "starweb" else "the shop"
            raise ValueError(
                f"preset {ctx.settings.preset} sends nothing from {source} to {to}: "
                f"the initial sync follows the preset's directions"
            )
        with progress_bar() as progress:
            task = progress.add_task("reading both catalogues", total=None)
            if isinstance(flow, ArticleExportFlow):
                plan = await flow.plan(full=True, go_live=True)
            else:
                plan = await flow.plan(full=True, observe=True)
            done: Any = {}
            if apply:
                progress.update(task, description="writing", total=plan.write_count, completed=0)
                done = await plan.apply(on_done=lambda _a: progress.advance(task, 1))
        return plan, done


def _print_plan(console: Any, plan: CatalogPlan, *, show: int) -> None:
    counts = Table(*plan.counts.keys(), title=f"initial sync from {plan.source}", title_justify="left")
    counts.add_row(*(str(n) for n in plan.counts.values()))
    console.print(counts)
    for note in plan.notes:
        console.print(note, soft_wrap=True)
    rows = plan.rows()
    if not rows:
        return
    table = Table("kind", "sku", "changes", "reason")
    for row in rows[: show or None]:
        table.add_row(row["kind"], row["sku"], row["changes"], row["reason"])
    console.print(table)
    if show and len(rows) > show:
        console.print(f"... and {len(rows) - show} more (use --csv FILE or --show 0)")


@products_app.command("issues")
def issues(
    connection: Annotated[str | None, typer.Option()] = None,
    as_json: Annotated[bool, typer.Option("--json", help="JSON instead of tables")] = False,
) -> None:
    """Catalogue items that wait (errors, retried every sweep) or went through with a compromise."""
    from shopbridge.cli.ui import EXIT_OK, EXIT_WAITING, connections, console, store

    s = store()
    errors = 0
    if as_json:
        out = []
        for c in connections(s, connection):
            for issue in s.catalog_issues.all(c.id):
                errors += issue.level == "error"
                out.append(
                    {
                        "connection": c.name,
                        "entity": issue.entity,
                        "sku": issue.key,
                        "level": issue.level,
                        "since": issue.first_seen.isoformat(),
                        "message": issue.message,
                    }
                )
        typer.echo(json.dumps(out, indent=2))
        raise typer.Exit(EXIT_WAITING if errors else EXIT_OK)
    for c in connections(s, connection):
        table = Table("entity", "sku", "level", "since", "message", title=c.name, title_justify="left")
        for issue in s.catalog_issues.all(c.id):
            errors += issue.level == "error"
            table.add_row(
                issue.entity, issue.key, issue.level, f"{issue.first_seen:%Y-%m-%d %H:%M}", issue.message
            )
        console.print(table)
    raise typer.Exit(EXIT_WAITING if errors else EXIT_OK)
