"""Hook URLs and secrets, and idempotent registration of Starweb web hooks against the sandbox."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from shopbridge.engine.hooks import (
    DEFAULT_EVENTS,
    hook_url,
    new_hook_secret,
    redact_hook_url,
    register_starweb_hooks,
)
from shopbridge.http.base import ApiClient


def test_hook_url_and_secret() -> None:
    secret = new_hook_secret()
    assert len(secret) >= 43 and secret != new_hook_secret()
    url = hook_url("https://sync.example.com/", "12", secret)
    assert url == f"https://sync.example.com/hooks/starweb/12/{secret}"
    assert redact_hook_url(url) == "https://sync.example.com/hooks/starweb/12/***"
    assert len(url) <= 255  # Starweb's limit on a hook URL
    assert hook_url("http://h", "a b/c", "s") == "http://h/hooks/starweb/a%20b%2Fc/s"


# -- against the Starweb sandbox ------------------------------------------------------------------


@pytest.fixture(scope="module")
def starweb_sandbox() -> Iterator[str]:
    """A Starweb sandbox (empty shop) in a thread; its API base URL."""
    try:
        from shopbridge.sandbox.common.defaults import STARWEB_CLIENT_ID, STARWEB_CLIENT_SECRET
        from shopbridge.sandbox.common.runner import start_in_thread
        from shopbridge.sandbox.settings import RateLimitSettings, SandboxSettings
        from shopbridge.sandbox.starweb.app import create_app
    except ImportError as exc:  # pragma: no cover - while the sandbox is being written
        pytest.skip(f"Starweb sandbox not importable yet: {exc}")
    settings = SandboxSettings(
        client_id=STARWEB_CLIENT_ID,
        client_secret=STARWEB_CLIENT_SECRET,
        seed="empty",
        rate_limit=RateLimitSettings(limit=100_000),
    )
    with start_in_thread(create_app(settings, webhook_retry_interval_s=0.2, webhook_max_retries=3)) as server:
        yield f"{server.url}/api/v2"


class BearerClient(ApiClient):
    """The shared `ApiClient` with a fixed bearer token (the path without a Starweb client)."""

    def __init__(self, base_url: str, token: str) -> None:
        super().__init__(base_url)
        self._token = token

    async def auth_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._token}"}


async def sandbox_token(api: str) -> str:
    from shopbridge.sandbox.common.defaults import STARWEB_CLIENT_ID, STARWEB_CLIENT_SECRET

    async with httpx.AsyncClient() as http:
        resp = await http.post(
            f"{api}/token",
            data={
                "grant_type": "client_credentials",
                "client_id": STARWEB_CLIENT_ID,
                "client_secret": STARWEB_CLIENT_SECRET,
            },
        )
        resp.raise_for_status()
        return str(resp.json()["access_token"])


@pytest.fixture(params=["starweb_client", "api_client"])
async def client(request: pytest.FixtureRequest, starweb_sandbox: str) -> AsyncIterator[Any]:
    if request.param == "starweb_client":
        try:
            from shopbridge.sandbox.common.defaults import STARWEB_CLIENT_ID, STARWEB_CLIENT_SECRET
            from shopbridge.starweb.client import StarwebClient
        except ImportError as exc:  # pragma: no cover
            pytest.skip(f"Starweb client not importable yet: {exc}")
        c: Any = StarwebClient(starweb_sandbox, STARWEB_CLIENT_ID, STARWEB_CLIENT_SECRET, rate_limit=None)
    else:
        c = BearerClient(starweb_sandbox, await sandbox_token(starweb_sandbox))
    try:
        yield c
    finally:
        for hook in (await c.request("GET", "web-hooks"))["data"]:  # leave the shared sandbox clean
            await c.request("DELETE", f"web-hooks/{hook['webHookId']}")
        await c.aclose()


async def hooks_of(client: Any) -> list[dict[str, Any]]:
    return list((await client.request("GET", "web-hooks"))["data"])


async def test_register_is_idempotent(client: Any) -> None:
    url = hook_url("http://127.0.0.1:9", "7", new_hook_secret())
    first = await register_starweb_hooks(client, url)
    assert first.created == list(DEFAULT_EVENTS) and first.existing == []
    second = await register_starweb_hooks(client, url)
    assert second.created == [] and second.existing == list(DEFAULT_EVENTS)
    ours = [h for h in await hooks_of(client) if h["url"] == url]
    assert sorted(h["event"] for h in ours) == sorted(DEFAULT_EVENTS)


async def test_register_adds_missing_events_and_replaces_an_old_secret(client: Any) -> None:
    old = hook_url("http://127.0.0.1:9", "7", "old-secret")
    other_connection = hook_url("http://127.0.0.1:9", "8", "theirs")
    foreign = "http://127.0.0.1:9/somebody-else"
    await register_starweb_hooks(client, old, ["order-created"])
    await register_starweb_hooks(client, other_connection, ["order-created"])
    await client.request("POST", "web-hooks", json={"name": "x", "event": "order-created", "url": foreign})
    new = hook_url("http://127.0.0.1:9", "7", new_hook_secret())
    result = await register_starweb_hooks(client, new, ["order-created", "product-updated"])
    assert result.created == ["order-created", "product-updated"] and result.removed == 1
    urls = [h["url"] for h in await hooks_of(client)]
    assert old not in urls
    assert other_connection in urls and foreign in urls  # not ours to remove
    assert urls.count(new) == 2
