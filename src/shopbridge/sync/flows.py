"""The flows a sweep runs for one connection, in order. Add a flow here and every runner runs it.

A flow is a class taking `(ctx, *, on_progress=None)` with `async sweep(hints) -> SweepReport`.
"""

from __future__ import annotations

from collections.abc import Callable

from shopbridge import plans
from shopbridge.sync.articles import ArticleExportFlow
from shopbridge.sync.base import Hint, SweepReport
from shopbridge.sync.booking import BookingFlow
from shopbridge.sync.context import ConnectionContext
from shopbridge.sync.orders import OrderFlow
from shopbridge.sync.shop_catalog import ShopCatalogFlow
from shopbridge.sync.shops import inherited_ids_reason, inherited_status_ids, reference_clash
from shopbridge.sync.status import StatusFlow

# orders first: they record what the shop sold, which the stock written to the shop holds back;
# booking right after them (document_type invoice), status last (it feeds back what booking did)
FLOWS = (OrderFlow, BookingFlow, ArticleExportFlow, ShopCatalogFlow, StatusFlow)


async def sweep_connection(
    ctx: ConnectionContext,
    hints: list[Hint] | None = None,
    *,
    on_progress: Callable[[str, int], None] | None = None,
) -> SweepReport:
    """One sweep of every flow of the connection; the reports merged into one."""
    report = SweepReport(ctx.name)
    if ctx.connection.parent_id is not None and not plans.allows(ctx.settings, plans.MULTISHOP):
        report.add(
            "config_error", "plan", f"plan {ctx.settings.plan} does not include multishop (400 and up)"
        )
        return report
    clash = reference_clash(ctx.store, ctx.connection)
    if clash:
        report.add("config_error", "reference_prefix", clash)
        return report
    inherited = inherited_status_ids(ctx.store, ctx.connection)
    for flow in FLOWS:
        if flow is OrderFlow and "trigger_statuses" in inherited:  # ids of another shop: nothing to start
            parent = ctx.store.connections.get(ctx.connection.parent_id).name  # type: ignore[arg-type]
            reason = inherited_ids_reason(
                ctx.connection, parent, "trigger_statuses", inherited["trigger_statuses"]
            )
            report.add("config_error", "trigger_statuses", reason)
            continue
        report.merge(await flow(ctx, on_progress=on_progress).sweep(hints))
    return report
