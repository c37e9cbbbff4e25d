"""Short live reads from the shop and Visma for the pages (statuses, articles), with a time limit.

A page that cannot reach a system still shows: these return None and the page says so.
"""

from __future__ import annotations

import asyncio
from typing import Any

import structlog

from shopbridge.store import Store
from shopbridge.sync.context import open_context
from shopbridge.sync.reference import ReferenceData

log = structlog.get_logger("shopbridge.portal")

LIVE_TIMEOUT_S = 15.0


async def shop_statuses(store: Store, connection_id: int, **client_kw: Any) -> list[dict[str, str]] | None:
    """The shop's order statuses as ``{"id", "code", "name"}`` (None when the shop cannot be read)."""
    try:
        async with open_context(store, connection_id, **client_kw) as ctx:
            ref = ctx.cache.setdefault("reference", ReferenceData(ctx.starweb, ctx.visma))
            statuses = await asyncio.wait_for(ref.order_statuses(), LIVE_TIMEOUT_S)
    except Exception as exc:
        log.info("portal.statuses_unavailable", connection=connection_id, error=type(exc).__name__)
        return None
    out = []
    for st in statuses:
        name = st.name("sv") or str(st.idCode or st.statusId)
        out.append({"id": str(st.statusId), "code": str(st.idCode or ""), "name": name})
    return out


def unknown_statuses(values: list[str], statuses: list[dict[str, str]]) -> list[str]:
    """The values naming no status of the shop (by id or idCode)."""
    known = {s["id"] for s in statuses} | {s["code"] for s in statuses if s["code"]}
    return [v for v in values if v and v not in known]
