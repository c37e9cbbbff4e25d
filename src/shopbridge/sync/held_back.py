"""What the shop sold that Visma does not reflect yet: the stock written to the shop holds it back.

Every complete shop order counts from the moment a sweep first sees it, whatever its status (an order
still in "Ny" has sold its units as surely as one in a trigger status): its SKU quantities are recorded
in `order_lines` (store/catalog.py). It counts until Visma reflects it (transferred as a document that
draws or reserves stock, or invoiced) or it is cancelled, and at most `stock_reserve_days`. Orders
created before `start_date` never count: they were handled before shopbridge.

The shop's orders are read newest change first (`sortBy=modifiedAt`), down to the stored cursor, so an
unchanged shop costs one list page. A cancelled order that never went to Visma stops counting.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from shopbridge.starweb.mapping import as_dict
from shopbridge.sync.catalog import parse_time
from shopbridge.sync.orders import CANCELLED_CODES, sku_quantities
from shopbridge.sync.reference import ReferenceData, article_key
from shopbridge.sync.start_date import day_start

CURSOR = "catalog_in.orders_modified"  # the newest `modifiedAt` of a shop order read


async def record_shop_orders(ctx: Any, ref: ReferenceData) -> None:
    """Record the lines of every complete shop order changed since the cursor (all within
    `stock_reserve_days` the first time); forget those of cancelled orders not transferred."""
    store, settings = ctx.store, ctx.settings
    window = datetime.now(UTC) - timedelta(days=settings.stock_reserve_days)
    if settings.start_date:  # orders before it were handled before shopbridge: Visma reflects them
        window = max(window, day_start(settings.start_date, settings.shop_time_zone))
    since = parse_time(store.cursors.get(ctx.id, CURSOR)) or window
    cancelled = {s.statusId for s in await ref.order_statuses() if str(s.idCode) in CANCELLED_CODES}
    mapped = str(settings.status_map.get("cancelled") or "")
    if mapped:
        cancelled |= (await ref.status_ids([mapped]))[0]
    newest: datetime | None = None
    created_after = window.isoformat().replace("+00:00", "Z")
    orders = ctx.starweb.iter_orders(
        include="items", sortBy="modifiedAt", sortOrder="DESC", ordersCreatedAfter=created_after
    )
    async for order in orders:
        wire = as_dict(order)
        modified = parse_time(wire.get("modifiedAt"))
        if modified is not None and modified < since:
            break  # newest first: everything further down was read before
        if modified is not None and (newest is None or modified > newest):
            newest = modified
        if not wire.get("isComplete"):
            continue
        oid = str(wire["orderId"])
        if wire.get("statusId") in cancelled:
            store.order_lines.forget_untransferred(ctx.id, oid)
        else:
            store.order_lines.record(ctx.id, oid, sku_quantities(wire))
    if newest is not None:  # read the newest second again next time (modifiedAt has whole seconds)
        store.cursors.set(ctx.id, CURSOR, newest.isoformat())


def not_drawn(ctx: Any) -> dict[str, Decimal]:
    """Quantity per SKU key that the shops of this Visma company sold and Visma does not reflect yet."""
    store, st = ctx.store, ctx.settings
    since = datetime.now(UTC) - timedelta(days=st.stock_reserve_days)
    # a Visma order reserves (available drops); a booked invoice draws at once
    drawn = (st.document_type == "order" and st.stock_source == "available") or st.document_type == "invoice"
    shops = [c.id for c in store.connections.shops(ctx.id)]  # they share Visma's stock
    found = store.order_lines.not_drawn(shops, since=since, drawn_on_transfer=drawn)
    return {article_key(k): v for k, v in found.items()}
