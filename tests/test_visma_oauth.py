"""Visma OAuth against the sandbox identity server over real HTTP: flow, state, rotation, races."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from shopbridge.http import RetryPolicy
from shopbridge.sandbox.common import start_in_thread
from shopbridge.sandbox.common.defaults import VISMA_CLIENT_ID, VISMA_CLIENT_SECRET
from shopbridge.sandbox.settings import SandboxSettings
from shopbridge.sandbox.visma.app import create_app
from shopbridge.visma import (
    FileTokenStore,
    InvalidGrantError,
    MemoryTokenStore,
    StateMismatchError,
    TokenSet,
    VismaClient,
    VismaOAuth,
)

REDIRECT = "http://127.0.0.1:8765/visma/callback"
FAST = RetryPolicy(max_attempts=6, base_delay=0.01, max_delay=0.05)


@pytest.fixture(scope="module")
def sandbox() -> Iterator[str]:
    settings = SandboxSettings(client_id=VISMA_CLIENT_ID, client_secret=VISMA_CLIENT_SECRET, seed="demo")
    server = start_in_thread(create_app(settings))
    settings.public_url = server.url
    try:
        yield server.url
    finally:
        server.stop()


def make_oauth(url: str, store: Any, **kw: Any) -> VismaOAuth:
    return VismaOAuth(
        VISMA_CLIENT_ID,
        VISMA_CLIENT_SECRET,
        REDIRECT,
        identity_url=url,
        token_store=store,
        retry=FAST,
        **kw,
    )


async def authorize(oauth: VismaOAuth) -> tuple[str, str, str]:
    """Follow the authorize URL like a browser would, up to the redirect: (code, state sent, state back)."""
    url, state = oauth.authorize_url()
    async with httpx.AsyncClient() as browser:
        answer = await browser.get(url, follow_redirects=False)
    assert answer.status_code == 302, answer.text
    location = answer.headers["location"]
    assert location.startswith(REDIRECT)
    query = parse_qs(urlsplit(location).query)
    return query["code"][0], state, query["state"][0]


async def connect(url: str, store: Any) -> VismaOAuth:
    oauth = make_oauth(url, store)
    code, sent, back = await authorize(oauth)
    oauth.check_state(sent, back)
    await oauth.exchange_code(code)
    return oauth


@pytest.fixture
async def store() -> AsyncIterator[MemoryTokenStore]:
    yield MemoryTokenStore()


async def test_authorize_url_carries_what_visma_needs() -> None:
    oauth = make_oauth("https://identity.example", MemoryTokenStore())
    url, state = oauth.authorize_url()
    query = parse_qs(urlsplit(url).query)
    assert urlsplit(url).path == "/connect/authorize"
    assert query["client_id"] == [VISMA_CLIENT_ID]
    assert query["redirect_uri"] == [REDIRECT]
    assert query["response_type"] == ["code"]
    assert query["scope"] == ["ea:api offline_access ea:sales"]
    assert query["prompt"] == ["select_account"]
    assert query["acr_values"] == ["service:44643EB1-3F76-4C1C-A672-402AE8085934"]
    assert query["state"] == [state] and len(state) >= 32
    assert oauth.authorize_url()[1] != state  # a fresh unguessable state per attempt
    assert VISMA_CLIENT_SECRET not in url
    await oauth.aclose()


async def test_full_flow_then_api_call(sandbox: str, store: MemoryTokenStore) -> None:
    oauth = make_oauth(sandbox, store)
    code, sent, back = await authorize(oauth)
    assert back == sent
    oauth.check_state(sent, back)
    tokens = await oauth.exchange_code(code)
    assert tokens.refresh_token and tokens.access_token
    assert await store.load() == tokens
    assert "access_token=***" in repr(tokens) and tokens.access_token not in repr(tokens)
    async with VismaClient(oauth, api_base=f"{sandbox}/v2", retry=FAST) as client:
        settings = await client.company_settings.get()
        assert settings.Name
    # the code is single-use
    with pytest.raises(InvalidGrantError):
        await oauth.exchange_code(code)
    await oauth.aclose()


async def test_state_mismatch_is_refused(sandbox: str) -> None:
    oauth = make_oauth(sandbox, MemoryTokenStore())
    _code, sent, back = await authorize(oauth)
    with pytest.raises(StateMismatchError):
        oauth.check_state(sent, back + "x")
    with pytest.raises(StateMismatchError):
        oauth.check_state(sent, None)
    with pytest.raises(StateMismatchError):
        oauth.check_state(None, back)
    await oauth.aclose()


async def test_refresh_rotates_and_the_old_refresh_token_dies(sandbox: str, store: MemoryTokenStore) -> None:
    oauth = await connect(sandbox, store)
    old = await store.load()
    assert old is not None
    new = await oauth.refresh()
    assert new.refresh_token != old.refresh_token and new.access_token != old.access_token
    assert await store.load() == new  # persisted before use
    # somebody still holding the old pair cannot refresh with it
    stale = make_oauth(sandbox, MemoryTokenStore(old), rotation_grace_s=0)
    with pytest.raises(InvalidGrantError):
        await stale.refresh()
    # and the new pair works
    async with VismaClient(oauth, api_base=f"{sandbox}/v2", retry=FAST) as client:
        assert await client.units.list()
    await stale.aclose()
    await oauth.aclose()


def expired(tokens: TokenSet) -> TokenSet:
    return TokenSet(
        tokens.access_token,
        tokens.refresh_token,
        datetime.now(UTC) - timedelta(seconds=1),
        scope=tokens.scope,
    )


async def test_two_concurrent_calls_refresh_once(sandbox: str, store: MemoryTokenStore) -> None:
    oauth = await connect(sandbox, store)
    tokens = await store.load()
    assert tokens is not None
    await store.save(expired(tokens))
    await oauth.forget()
    async with VismaClient(oauth, api_base=f"{sandbox}/v2", retry=FAST) as client:
        units, terms = await asyncio.gather(client.units.list(), client.terms_of_payment.list())
    assert units and terms
    assert oauth.refreshes == 1
    await oauth.aclose()


async def test_401_refreshes_once_and_repeats_the_call(sandbox: str, store: MemoryTokenStore) -> None:
    oauth = await connect(sandbox, store)
    tokens = await store.load()
    assert tokens is not None
    async with httpx.AsyncClient() as http:  # revoke only the access token, as if it expired early
        answer = await http.post(
            f"{sandbox}/connect/revocation",
            data={"token": tokens.access_token, "token_type_hint": "access_token"},
            auth=(VISMA_CLIENT_ID, VISMA_CLIENT_SECRET),
        )
        assert answer.status_code == 200
    async with VismaClient(oauth, api_base=f"{sandbox}/v2", retry=FAST) as client:
        a, b = await asyncio.gather(client.units.list(), client.currencies.list())
    assert a and b
    assert oauth.refreshes == 1
    await oauth.aclose()


async def test_two_instances_sharing_a_file_store_do_not_burn_the_pair(sandbox: str, tmp_path: Path) -> None:
    path = tmp_path / "visma-tokens.json"
    first = await connect(sandbox, FileTokenStore(path))
    original = await FileTokenStore(path).load()
    assert original is not None
    # a second process: its own instance and its own store object on the same file
    second = make_oauth(sandbox, FileTokenStore(path))
    one, two = await asyncio.gather(first.refresh(stale=original), second.refresh(stale=original))
    assert one.refresh_token == two.refresh_token != original.refresh_token
    assert first.refreshes + second.refreshes == 1
    assert (await FileTokenStore(path).load()) == one
    assert path.stat().st_mode & 0o077 == 0  # not readable by others
    for oauth in (first, second):
        async with VismaClient(oauth, api_base=f"{sandbox}/v2", retry=FAST) as client:
            assert await client.units.list()
        await oauth.aclose()


class UnlockedStore:
    """A shared store without `lock()` (e.g. a database row): the invalid_grant fallback must cope."""

    def __init__(self) -> None:
        self.inner = MemoryTokenStore()

    async def load(self) -> TokenSet | None:
        return await self.inner.load()

    async def save(self, tokens: TokenSet) -> None:
        await asyncio.sleep(0.05)  # a slow durable write widens the race
        await self.inner.save(tokens)


async def test_racing_instances_without_a_store_lock_recover(sandbox: str) -> None:
    store = UnlockedStore()
    first = await connect(sandbox, store)
    original = await store.load()
    assert original is not None
    second = make_oauth(sandbox, store)
    one, two = await asyncio.gather(first.refresh(stale=original), second.refresh(stale=original))
    assert first.refreshes + second.refreshes == 2  # both asked; the loser got invalid_grant ...
    assert one.refresh_token == two.refresh_token != original.refresh_token  # ... and adopted the winner's
    async with VismaClient(second, api_base=f"{sandbox}/v2", retry=FAST) as client:
        assert await client.units.list()
    await first.aclose()
    await second.aclose()


async def test_revoke_kills_the_grant(sandbox: str, store: MemoryTokenStore) -> None:
    oauth = await connect(sandbox, store)
    tokens = await store.load()
    assert tokens is not None
    await oauth.revoke()
    assert await store.load() is None
    stale = make_oauth(sandbox, MemoryTokenStore(tokens), rotation_grace_s=0)
    with pytest.raises(InvalidGrantError):
        await stale.refresh()
    await stale.aclose()
    await oauth.aclose()


REFRESHER = """
import asyncio, json, sys, time
from shopbridge.store import open_store
from shopbridge.sync.context import StoreTokenStore
from shopbridge.visma.oauth import TokenSet, VismaOAuth
url, db, key, conn_id, start, stale = sys.argv[1:7]
store = open_store(db, key=key, migrate_db=False)
async def main():
    oauth = VismaOAuth(sys.argv[7], sys.argv[8], "http://127.0.0.1/cb", identity_url=url,
                       token_store=StoreTokenStore(store, int(conn_id)), rotation_grace_s=0)
    held = TokenSet.from_dict(json.loads(stale))
    await asyncio.sleep(max(float(start) - time.time(), 0))
    got = await oauth.refresh(stale=held)
    print(json.dumps({"refresh_token": got.refresh_token, "refreshes": oauth.refreshes}))
asyncio.run(main())
"""


async def test_processes_sharing_the_database_refresh_the_rotating_pair_once(
    sandbox: str, tmp_path: Path
) -> None:
    """Three processes refresh the same pair at once: the database lease lets one rotate it, the others
    take the new pair (no file lock: this works across machines and on Windows)."""
    import json
    import os
    import subprocess
    import sys
    import time
    import uuid

    from cryptography.fernet import Fernet

    from shopbridge.sync.context import StoreTokenStore
    from store_backends import pg_store, pg_url, services_check

    services_check("postgresql")
    key = Fernet.generate_key()
    schema = f"sbtest_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    with pg_store(tmp_path, schema=schema, key=key) as store:
        conn = store.connections.create("shop")
        first = await connect(sandbox, StoreTokenStore(store, conn.id))
        original = await StoreTokenStore(store, conn.id).load()
        await first.aclose()
        db = f"{pg_url()}?options=-csearch_path%3D{schema}"
        start = str(time.time() + 3)
        args = [sandbox, db, key.decode(), str(conn.id), start, json.dumps(original.to_dict())]
        procs = [
            subprocess.Popen(
                [sys.executable, "-c", REFRESHER, *args, VISMA_CLIENT_ID, VISMA_CLIENT_SECRET],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(3)
        ]
        results = []
        for p in procs:
            out, err = p.communicate(timeout=120)
            assert p.returncode == 0, err[-2000:]
            results.append(json.loads(out.strip().splitlines()[-1]))
        assert len({r["refresh_token"] for r in results}) == 1
        assert results[0]["refresh_token"] != original.refresh_token
        assert sum(r["refreshes"] for r in results) == 1
        assert (await StoreTokenStore(store, conn.id).load()).refresh_token == results[0]["refresh_token"]
