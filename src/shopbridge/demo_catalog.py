"""The catalogue part of the demo (`shopbridge demo --preset NAME`): the initial product sync
previewed and applied from the side that owns the products, then one change on the owning side and
the sweep that carries it over, printed before and after."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from rich.console import Console
from rich.table import Table

from shopbridge.store import Store
from shopbridge.sync.articles import ArticleExportFlow
from shopbridge.sync.catalog import parse_ref
from shopbridge.sync.context import open_context
from shopbridge.sync.flows import sweep_connection
from shopbridge.sync.shop_catalog import ShopCatalogFlow


async def demo_initial_sync(
    store: Store, console: Console, connection: str, preset: str, **client_kw: Any
) -> None:
    """The initial product sync from the side that owns the products: preview, apply, preview again."""
    source = "visma" if preset == "erp-master" else "starweb"
    console.print(
        f"[bold]catalogue[/bold] (preset {preset}): initial product sync from {source}, preview ..."
    )
    async with open_context(store, connection, **client_kw) as ctx:
        flow: Any = ShopCatalogFlow(ctx) if source == "visma" else ArticleExportFlow(ctx)
        plan = await (flow.plan(full=True, observe=True) if source == "visma" else flow.plan(full=True))
        _counts(console, "preview", plan.counts)
        for row in plan.rows()[:6]:
            console.print(f"  {row['kind']:<9} {row['sku']:<14} {row['changes'] or row['reason']}")
        done = await plan.apply()
        console.print(f"  applied: {dict(done)}")
        again = await (flow.plan(full=True, observe=True) if source == "visma" else flow.plan(full=True))
        _counts(console, "second preview (nothing left to do)", again.counts)


async def demo_catalog_change(
    store: Store, console: Console, connection: str, preset: str, **client_kw: Any
) -> None:
    """One change on the side that owns it, carried over by an ordinary sweep."""
    async with open_context(store, connection, **client_kw) as ctx:
        ctx.cache["client_kw"] = client_kw
        for shop in store.connections.shops(ctx.id):  # settle: everything up to date
            async with open_context(store, shop.id, **client_kw) as shop_ctx:
                await sweep_connection(shop_ctx)
        if preset == "ecom-master":
            await _shop_price_change(ctx, console)
        else:
            await _visma_stock_and_price_change(ctx, console)


def _counts(console: Console, title: str, counts: dict[str, int]) -> None:
    table = Table(*counts.keys(), title=title, title_justify="left")
    table.add_row(*(str(n) for n in counts.values()))
    console.print(table)


async def _visma_stock_and_price_change(ctx: Any, console: Console) -> None:
    """A manual count and a new price in Visma; the next sweep writes only that variant."""
    binding = next(b for b in ctx.store.bindings.all(ctx.id, "stock"))
    article = await ctx.visma.articles.get(binding.visma_id)
    body = article.to_wire()
    body["StockBalance"] = Decimal(article.StockBalance or 0) + 7
    body["NetPrice"] = Decimal(article.NetPrice or 0) + 10
    body.pop("GrossPrice", None)
    await ctx.visma.articles.update(binding.visma_id, body)
    console.print(
        f"in Visma: article {article.Number} counted to {body['StockBalance']}, priced {body['NetPrice']}"
    )
    for shop in ctx.store.connections.shops(ctx.id):
        async with open_context(ctx.store, shop.id, **ctx.cache.get("client_kw", {})) as shop_ctx:
            writes_before = _writes(shop_ctx)
            report = await sweep_connection(shop_ctx)
            found = shop_ctx.store.bindings.get_by_visma(shop.id, "stock", binding.visma_id)
            if found is None:
                continue
            product_id, variant_id = parse_ref(found.starweb_id)
            variant = await shop_ctx.starweb.get_variant(product_id, variant_id, include="prices")
            prices = ", ".join(f"list {p.pricelistId}: {p.priceExVat}" for p in variant.prices or [])
            console.print(
                f"{shop.name}: next sweep {_writes(shop_ctx) - writes_before} write calls, "
                f"{report.api_calls} calls in all; variant {variant.sku} now has stock "
                f"{variant.stockQuantity}, prices {prices}"
            )
            shops = [x.id for x in shop_ctx.store.connections.shops(shop.id)]
            held = shop_ctx.store.order_lines.not_drawn(shops, since=_long_ago(), drawn_on_transfer=False)
            if held.get(str(variant.sku).upper()):
                console.print(
                    f"  ({held[str(variant.sku).upper()]:f} held back: on the shops' orders that Visma "
                    "has not invoiced yet, so the shop cannot oversell)"
                )


async def _shop_price_change(ctx: Any, console: Console) -> None:
    """A new price in the shop; the next sweep updates that one article in Visma."""
    binding = next(b for b in ctx.store.bindings.all(ctx.id, "article"))
    product_id, variant_id = parse_ref(binding.starweb_id)
    lists = await ctx.starweb.list_pricelists()
    master = next(p.pricelistId for p in lists if p.isMaster)
    price = await ctx.starweb.get_variant_price(product_id, variant_id, master)
    new = Decimal(price.priceExVat or 0) + 10
    await ctx.starweb.set_variant_price(product_id, variant_id, master, priceExVat=new)
    console.print(f"in the shop: {binding.visma_number} priced {new} ex VAT")
    writes_before = _writes(ctx)
    report = await sweep_connection(ctx)
    article = await ctx.visma.articles.get(binding.visma_id)
    console.print(
        f"next sweep: {_writes(ctx) - writes_before} write calls, {report.api_calls} calls in all; "
        f"Visma article {article.Number} now has NetPrice {article.NetPrice}, GrossPrice {article.GrossPrice}"
    )


def _long_ago() -> Any:
    from datetime import UTC, datetime, timedelta

    return datetime.now(UTC) - timedelta(days=3650)


def _writes(ctx: Any) -> int:
    return ctx.starweb.write_calls + ctx.visma.write_calls
