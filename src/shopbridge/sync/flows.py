"""The flows a sweep runs for one connection, in order. Add a flow here and every runner runs it.

A flow is a class taking `(ctx, *, on_progress=None)` with `async sweep(hints) -> SweepReport`.
"""

from __future__ import annotations

from collections.abc import Callable

from shopbridge.sync.articles import ArticleExportFlow
from shopbridge.sync.base import Hint, SweepReport
from shopbridge.sync.context import ConnectionContext
from shopbridge.sync.orders import OrderFlow
from shopbridge.sync.shop_catalog import ShopCatalogFlow
from shopbridge.sync.status import StatusFlow

# orders first: they record what the shop sold, which the stock written to the shop holds back
FLOWS = (OrderFlow, ArticleExportFlow, ShopCatalogFlow, StatusFlow)


async def sweep_connection(
    ctx: ConnectionContext,
    hints: list[Hint] | None = None,
    *,
    on_progress: Callable[[str, int], None] | None = None,
) -> SweepReport:
    """One sweep of every flow of the connection; the reports merged into one."""
    report = SweepReport(ctx.name)
    for flow in FLOWS:
        report.merge(await flow(ctx, on_progress=on_progress).sweep(hints))
    return report
