"""Settings that name something in the shop or in Visma, checked against that shop or company.

`connection set` runs the check of the key it changes (and refuses the value, storing nothing, when
the thing named does not exist); `doctor` runs them all for every shop. A check answers None when
the value is fine, else one sentence naming what is missing and what exists. Add a check for a new
setting with `@remote_check("key")`.

Starweb status ids are per shop: every check runs against the connection's own shop, so a further
shop (multishop) is checked against its statuses, not its parent's.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from shopbridge.sync.context import ConnectionContext
from shopbridge.sync.reference import ReferenceData

RemoteCheck = Callable[[ConnectionContext, str, Any], Awaitable["str | None"]]
REMOTE_CHECKS: dict[str, RemoteCheck] = {}


def remote_check(*keys: str) -> Callable[[RemoteCheck], RemoteCheck]:
    """Register `fn(ctx, key, value) -> problem or None` as the check of these settings."""

    def register(fn: RemoteCheck) -> RemoteCheck:
        for key in keys:
            REMOTE_CHECKS[key] = fn
        return fn

    return register


async def check_remote(ctx: ConnectionContext, key: str, value: Any) -> str | None:
    """The problem with `value` for setting `key` in this connection's shop/company, or None."""
    fn = REMOTE_CHECKS.get(key)
    if fn is None or value in (None, "", [], {}):
        return None
    return await fn(ctx, key, value)


def reference(ctx: ConnectionContext) -> ReferenceData:
    """The connection's cached reference data (shared with the flows)."""
    return ctx.cache.setdefault("reference", ReferenceData(ctx.starweb, ctx.visma))


# -- Starweb order statuses -------------------------------------------------------------------------
async def unknown_statuses(ctx: ConnectionContext, key: str, values: list[str]) -> str | None:
    """A sentence when some of `values` (status ids or idCodes) are not order statuses of the shop."""
    ref = reference(ctx)
    _, unknown = await ref.status_ids([str(v) for v in values])
    if not unknown:
        return None
    known = ", ".join(
        f"{s.statusId}" + (f" {s.idCode}" if s.idCode else f" ({s.name()})" if s.name() else "")
        for s in await ref.order_statuses()
    )
    return (
        f"{key}: the shop of {ctx.name!r} has no order status {', '.join(repr(u) for u in unknown)} "
        f"(it has: {known})"
    )


@remote_check("trigger_statuses", "returned_statuses")
async def _status_list(ctx: ConnectionContext, key: str, value: Any) -> str | None:
    return await unknown_statuses(ctx, key, list(value))


@remote_check("status_map")
async def _status_map(ctx: ConnectionContext, key: str, value: Any) -> str | None:
    return await unknown_statuses(ctx, key, [v for v in dict(value).values() if str(v).strip()])


# -- Visma cost centres and projects (multishop rows) -----------------------------------------------
async def visma_list(ctx: ConnectionContext, resource: str, path: str) -> list[dict[str, Any]]:
    """Every item of a Visma list: through the client's resource when it has one, else by path."""
    service = getattr(ctx.visma, resource, None)
    if service is not None and hasattr(service, "list"):
        items = await service.list()
        return [i.model_dump(by_alias=True) if hasattr(i, "model_dump") else dict(i) for i in items]
    out: list[dict[str, Any]] = []
    async for body in ctx.visma.iter_pages(path):
        out.extend(d for d in body.get("Data") or [] if isinstance(d, dict))
    return out


@remote_check("cost_center_item_id")
async def _cost_center(ctx: ConnectionContext, key: str, value: Any) -> str | None:
    centres = await visma_list(ctx, "cost_centers", "costcenters")
    items = {
        str(item.get("Id")).lower(): item
        for centre in centres
        for item in centre.get("Items") or []
        if item.get("Id")
    }
    item = items.get(str(value).lower())
    if item is None:
        known = ", ".join(f"{i.get('Id')} ({i.get('Name') or i.get('ShortName')})" for i in items.values())
        return f"{key}: Visma has no cost centre item {value!r} (it has: {known or 'none'})"
    if item.get("IsActive") is False:
        return f"{key}: the cost centre item {value!r} ({item.get('Name')}) is inactive in Visma"
    return None


@remote_check("project_id")
async def _project(ctx: ConnectionContext, key: str, value: Any) -> str | None:
    projects = {str(p.get("Id")).lower(): p for p in await visma_list(ctx, "projects", "projects")}
    project = projects.get(str(value).lower())
    if project is None:
        known = ", ".join(f"{p.get('Id')} ({p.get('Number')} {p.get('Name')})" for p in projects.values())
        return f"{key}: Visma has no project {value!r} (it has: {known or 'none'})"
    return None
