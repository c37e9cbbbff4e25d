"""Starweb web hooks for a connection: the receiver URL, its secret, and idempotent registration.

Starweb does not sign hook calls, so the URL carries an unguessable secret:
`{public_url}/hooks/starweb/{connection_id}/{secret}`. Registration lists the shop's hooks and creates
only the missing (event, url) pairs, so restarts never add duplicates. Hooks that point at this
connection's receiver with an older secret are removed (they could only ever get 404 answers).
A URL with its secret is never logged: use `redact_hook_url` for anything shown.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import structlog

log = structlog.get_logger("shopbridge.engine.hooks")

HOOK_PREFIX = "/hooks/starweb"
DEFAULT_EVENTS = ("order-created", "order-completed", "order-status-changed")
PRODUCT_EVENTS = ("product-created", "product-updated")
HOOK_NAME = "shopbridge"

HOOKS_CURSOR = "webhooks.registered"
"""Cursor set when a shop's web hooks were registered (the portal shows it)."""


def hook_events(settings: Any) -> tuple[str, ...]:
    """The events a connection listens to: orders always, products when the shop's products go to Visma."""
    from shopbridge.sync.directions import direction

    if direction(settings, "products") == "to_visma":
        return DEFAULT_EVENTS + PRODUCT_EVENTS
    return DEFAULT_EVENTS


def new_hook_secret() -> str:
    """A fresh secret for a connection's hook URL (43 URL-safe characters, 256 bits)."""
    return secrets.token_urlsafe(32)


def hook_url(public_url: str, connection_id: str, secret: str) -> str:
    """The URL Starweb calls for `connection_id`; `public_url` is where `shopbridge run` is reachable."""
    return f"{_prefix(public_url, connection_id)}{quote(secret, safe='')}"


def redact_hook_url(url: str) -> str:
    """The hook URL with its secret (last path segment) replaced by `***`, for logs and output."""
    head, sep, _secret = url.rstrip("/").rpartition("/")
    return f"{head}{sep}***" if sep else "***"


def _prefix(public_url: str, connection_id: str) -> str:
    return f"{public_url.rstrip('/')}{HOOK_PREFIX}/{quote(str(connection_id), safe='')}/"


@dataclass
class HookRegistration:
    """What `register_starweb_hooks` did: events created, events already there, stale hooks removed."""

    created: list[str] = field(default_factory=list)
    existing: list[str] = field(default_factory=list)
    removed: int = 0


async def register_starweb_hooks(
    starweb_client: Any,
    url: str,
    events: Iterable[str] = DEFAULT_EVENTS,
    *,
    name: str = HOOK_NAME,
    remove_stale: bool = True,
) -> HookRegistration:
    """Make sure the shop calls `url` for each of `events`; create only what is missing.

    `starweb_client` is a `StarwebClient` (`list_web_hooks`/`create_web_hook`/`delete_web_hook`) or
    any `ApiClient` for the shop's API (plain `GET/POST/DELETE web-hooks`).
    With `remove_stale`, hooks whose URL is this receiver's URL with a different secret are deleted.
    """
    wanted = list(dict.fromkeys(events))
    result = HookRegistration()
    hooks = [_as_dict(h) for h in await _list_hooks(starweb_client)]
    target = _norm(url)
    stale_prefix = target.rpartition("/")[0] + "/" if HOOK_PREFIX + "/" in target else None
    have: set[str] = set()
    for hook in hooks:
        hook_target = _norm(str(hook.get("url") or ""))
        if hook_target == target:
            have.add(str(hook.get("event")))
        elif (
            remove_stale
            and stale_prefix
            and hook_target.startswith(stale_prefix)
            and "/" not in hook_target[len(stale_prefix) :]
            and hook.get("webHookId") is not None
        ):
            await _delete_hook(starweb_client, int(hook["webHookId"]))
            result.removed += 1
    for event in wanted:
        if event in have:
            result.existing.append(event)
            continue
        await _create_hook(starweb_client, name=name, event=event, url=url)
        result.created.append(event)
    log.info(
        "hooks.registered",
        url=redact_hook_url(url),
        created=result.created,
        existing=result.existing,
        removed=result.removed,
    )
    return result


# -- client adapter: the StarwebClient's methods when present, else plain requests ------------------


async def _list_hooks(client: Any) -> list[Any]:
    if hasattr(client, "list_web_hooks"):
        return list(await client.list_web_hooks())
    body = await client.request("GET", "web-hooks")
    return list((body or {}).get("data") or []) if isinstance(body, dict) else list(body or [])


async def _create_hook(client: Any, *, name: str, event: str, url: str) -> None:
    if hasattr(client, "create_web_hook"):
        await client.create_web_hook(name, event, url)
        return

    async def reconcile() -> Any:  # a lost answer: look for the hook before sending again
        for hook in await _list_hooks(client):
            h = _as_dict(hook)
            if h.get("event") == event and _norm(str(h.get("url") or "")) == _norm(url):
                return h
        return None

    await client.request(
        "POST", "web-hooks", json={"name": name, "event": event, "url": url}, reconcile=reconcile
    )


async def _delete_hook(client: Any, hook_id: int) -> None:
    if hasattr(client, "delete_web_hook"):
        await client.delete_web_hook(hook_id)
        return
    await client.request("DELETE", f"web-hooks/{hook_id}")


def _as_dict(hook: Any) -> dict[str, Any]:
    if isinstance(hook, dict):
        return hook
    if hasattr(hook, "model_dump"):
        return dict(hook.model_dump(by_alias=True))
    return {k: getattr(hook, k, None) for k in ("webHookId", "name", "event", "statusId", "url")}


def _norm(url: str) -> str:
    return url.strip().rstrip("/")
