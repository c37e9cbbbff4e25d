"""The flows a sweep runs for one connection, in order. Add a flow here and every runner runs it.

Every runner calls `sweep_connection`: the embedded engine, `sync --once`, the Celery workers. It
holds the connection's sweep lease for the whole sweep (`sync.sweep_lease`), so one connection is
swept by one process at a time however many run; a connection busy elsewhere reports "busy".

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
from shopbridge.sync.status_poll import FULL_SWEEP, STATUS_POLL
from shopbridge.sync.sweep_lease import SweepBusy, sweep_lease

# orders first: they record what the shop sold, which the stock written to the shop holds back;
# booking right after them (document_type invoice), status last (it feeds back what booking did)
FLOWS = (OrderFlow, BookingFlow, ArticleExportFlow, ShopCatalogFlow, StatusFlow)


async def sweep_connection(
    ctx: ConnectionContext,
    hints: list[Hint] | None = None,
    *,
    on_progress: Callable[[str, int], None] | None = None,
) -> SweepReport:
    """One sweep of every flow of the connection under its lease; the reports merged into one."""
    if ctx.lease is None:
        try:
            async with sweep_lease(ctx):
                return await _sweep_flows(ctx, hints, on_progress)
        except SweepBusy as exc:
            report = SweepReport(ctx.name)
            report.add("busy", "sweep", str(exc))
            return report
    return await _sweep_flows(ctx, hints, on_progress)


async def _sweep_flows(
    ctx: ConnectionContext, hints: list[Hint] | None, on_progress: Callable[[str, int], None] | None
) -> SweepReport:
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
    if hints and all(h == STATUS_POLL for h in hints):  # a status poll: Visma's changes only
        report.merge(await StatusFlow(ctx, on_progress=on_progress).sweep(hints))
        return report
    # the status flow sees the poll hint (it reads Visma's side then); the other flows see real hints
    others = [h for h in hints or [] if h not in (STATUS_POLL, FULL_SWEEP)] or None
    inherited = inherited_status_ids(ctx.store, ctx.connection)
    for flow in FLOWS:
        if flow is OrderFlow and "trigger_statuses" in inherited:  # ids of another shop: nothing to start
            parent = ctx.store.connections.get(ctx.connection.parent_id).name  # type: ignore[arg-type]
            reason = inherited_ids_reason(
                ctx.connection, parent, "trigger_statuses", inherited["trigger_statuses"]
            )
            report.add("config_error", "trigger_statuses", reason)
            continue
        report.merge(await flow(ctx, on_progress=on_progress).sweep(hints if flow is StatusFlow else others))
    return report
