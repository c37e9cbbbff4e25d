"""Every failure a new user meets, table-driven: the right exit code, one sentence naming the thing and
what to do, never a traceback, and nothing stored on a refusal.

Real processes (`python -m shopbridge ...`) against real sandboxes and a real SQLite store, as a user
runs them. Exit codes: 1 done but something waits, 2 usage/configuration, 3 credentials refused,
4 unreachable.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.fernet import Fernet

from shopbridge.demo import start_sandboxes
from shopbridge.onboarding import connect_sandboxes, connect_starweb
from shopbridge.sandbox.catalog import demo_catalog, in_visma
from shopbridge.sandbox.common import defaults as d
from shopbridge.starweb.client import StarwebClient
from shopbridge.store import open_store
from shopbridge.sync.context import VISMA_TOKENS, open_context
from shopbridge.sync.flows import sweep_connection
from store_backends import pg_check, pg_url

SHOP = "shop"


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class World:
    home: Path
    starweb: Any
    visma: Any
    transferred: str = ""
    dead: int = field(default_factory=closed_port)

    def copy_home(self, dest: Path) -> Path:
        shutil.copytree(self.home, dest)
        return dest

    def store(self) -> Any:
        return open_store(data_dir=self.home)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """Sandboxes; a home with connection "shop" (synced once: demo orders wait, others transferred)."""
    starweb, visma = start_sandboxes(starweb_limit=20000, shops=2)
    home = tmp_path_factory.mktemp("cli-failures")
    w = World(home, starweb, visma)

    async def setup() -> None:
        store = open_store(data_dir=home)
        await connect_sandboxes(store, SHOP, starweb_url=starweb.url, visma_url=visma.url)
        async with open_context(store, SHOP, starweb_rate_limit=20000) as ctx:
            await sweep_connection(ctx)
        conn = store.connections.find(SHOP)
        w.transferred = store.transfers.all(conn.id, state="transferred", limit=1)[0].starweb_order_id
        store.close()

    asyncio.run(setup())
    yield w
    starweb.stop()
    visma.stop()


def cli(home: Path, *args: str, env: dict[str, str] | None = None, timeout: float = 120) -> Any:
    environ = {k: v for k, v in os.environ.items() if k != "SHOPBRIDGE_KEY"}
    environ.update({"SHOPBRIDGE_HOME": str(home), "COLUMNS": "500", **(env or {})})
    cmd = [sys.executable, "-m", "shopbridge", *args]
    return subprocess.run(
        cmd, env=environ, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL
    )


@dataclass
class Case:
    """One failure: the command, the exit code, words the sentence must hold; `prepare(world, tmp)`
    may return another home (a copy to break) and extra args/env."""

    id: str
    args: tuple[str, ...]
    code: int
    says: tuple[str, ...]
    prepare: Callable[[World, Path], tuple[Path, dict[str, str]]] | None = None
    unchanged: str | None = None  # a setting of "shop" that must not change


def _copy(world: World, tmp: Path) -> tuple[Path, dict[str, str]]:
    return world.copy_home(tmp / "home"), {}


def _garbled_key(world: World, tmp: Path) -> tuple[Path, dict[str, str]]:
    home = world.copy_home(tmp / "home")
    (home / "secret.key").write_text("this is not a key\n")
    return home, {}


def _other_key(world: World, tmp: Path) -> tuple[Path, dict[str, str]]:
    home = world.copy_home(tmp / "home")
    (home / "secret.key").write_bytes(Fernet.generate_key() + b"\n")
    return home, {}


def _missing_key(world: World, tmp: Path) -> tuple[Path, dict[str, str]]:
    home = world.copy_home(tmp / "home")
    (home / "secret.key").unlink()
    return home, {}


def _bad_env_key(world: World, tmp: Path) -> tuple[Path, dict[str, str]]:
    return world.copy_home(tmp / "home"), {"SHOPBRIDGE_KEY": "not-a-fernet-key"}


def _file_as_data_dir(world: World, tmp: Path) -> tuple[Path, dict[str, str]]:
    (tmp / "afile").write_text("x")
    return tmp / "afile", {}


CASES = [
    # -- the command line and the machine
    Case("log-level", ("--log-level", "bogus", "connection", "list"), 2, ("--log-level", "DEBUG")),
    Case("log-format", ("--log-format", "xml", "connection", "list"), 2, ("--log-format",)),
    Case("db-kind", ("--db", "mysql://u@h/db", "init"), 2, ("unsupported database", "postgresql://")),
    Case("db-unreachable", ("--db", "postgresql://127.0.0.1:{dead}/x", "init"), 4, ("could not be reached",)),
    Case("db-missing", ("--db", "{pg}", "init"), 2, ("does not exist", "createdb")),
    # -- the cluster's services: checked before a process starts, never retried in silence
    Case(
        "redis-unreachable",
        ("scheduler", "--redis", "redis://127.0.0.1:{dead}/0"),
        4,
        ("Redis at 127.0.0.1", "could not be reached"),
    ),
    Case(
        "broker-unreachable",
        ("worker", "--broker", "amqp://guest:secret@127.0.0.1:{dead}//"),
        4,
        ("the broker at 127.0.0.1", "could not be reached"),
    ),
    Case("redis-url", ("web", "--redis", "notaurl"), 2, ("Redis URL is not usable",)),
    Case("data-dir-file", ("init",), 2, ("is a file",), prepare=_file_as_data_dir),
    Case(
        "key-garbled",
        ("sync", "--connection", SHOP),
        2,
        ("not a valid key", "secret.key"),
        prepare=_garbled_key,
    ),
    Case(
        "key-other", ("sync", "--connection", SHOP), 2, ("cannot be decrypted", "restore"), prepare=_other_key
    ),
    Case("key-missing", ("sync", "--connection", SHOP), 2, ("key is missing",), prepare=_missing_key),
    Case(
        "key-env",
        ("sync", "--connection", SHOP),
        2,
        ("SHOPBRIDGE_KEY", "not a valid key"),
        prepare=_bad_env_key,
    ),
    Case("port-busy", ("run", "--port", "{busy}", "--ops-port", "-1"), 2, ("in use", "--port")),
    Case("sandbox-port-busy", ("sandbox", "visma", "--port", "{busy}"), 2, ("in use", "--port")),
    Case("ops-public", ("run", "--port", "0", "--ops-host", "0.0.0.0"), 2, ("--ops-token",)),
    Case("unknown-connection", ("sync", "--connection", "nosuch"), 2, ("no connection named 'nosuch'",)),
    Case("usage-month", ("usage", "--month", "2024-13"), 2, ("2024-13",)),
    Case("reconcile-month", ("reconcile", "--month", "2024-13"), 2, ("2024-13", "YYYY-MM")),
    Case("reconcile-span", ("reconcile", "--from", "2024-11-01"), 2, ("--from and --to",)),
    Case("demo-preset", ("demo", "--preset", "bogus"), 2, ("--preset",)),
    # -- connecting
    Case(
        "url-not-url",
        ("connect", "starweb", "--name", "x", "--base-url", "notaurl"),
        2,
        ("not a web address",),
    ),
    Case(
        "shop-unreachable",
        ("connect", "starweb", "--name", "x", "--base-url", "http://127.0.0.1:{dead}/api/v2"),
        4,
        ("could not be reached at http://127.0.0.1:", "connection 'x'"),
    ),
    Case(
        "shop-secret",
        ("connect", "starweb", "--name", "x", "--base-url", "{starweb}/api/v2", "--client-secret", "wrong"),
        3,
        ("refused the credentials",),
    ),
    Case(
        "re-point",
        ("connect", "starweb", "--name", SHOP, "--base-url", "{starweb}/shops/2/api/v2"),
        2,
        ("--replace",),
    ),
    Case(
        "shop-of-unknown",
        ("connect", "starweb", "--name", "y", "--base-url", "{starweb}/api/v2", "--shop-of", "nosuch"),
        2,
        ("no connection named 'nosuch'",),
    ),
    Case(
        "visma-wrong-secret",
        (
            "connect",
            "visma",
            "--connection",
            SHOP,
            "--client-secret",
            "wrong",
            "--code",
            "abc",
            "--identity-url",
            "{visma}",
            "--api-base",
            "{visma}/v2",
        ),
        3,
        ("client id or secret", "nothing was changed"),
    ),
    Case(
        "visma-bad-code",
        (
            "connect",
            "visma",
            "--connection",
            SHOP,
            "--code",
            "not-a-code",
            "--identity-url",
            "{visma}",
            "--api-base",
            "{visma}/v2",
        ),
        3,
        ("connect visma",),
    ),
    Case(
        "consent-timeout",
        (
            "connect",
            "visma",
            "--connection",
            SHOP,
            "--identity-url",
            "{visma}",
            "--api-base",
            "{visma}/v2",
            "--no-browser",
            "--port",
            "0",
            "--timeout",
            "1",
        ),
        4,
        ("no answer from Visma's consent page", "--code"),
    ),
    # -- settings: refused with one sentence, nothing stored
    Case("paused-typo", ("connection", "set", SHOP, "paused", "ture"), 2, ("true or false",)),
    Case(
        "negative",
        ("connection", "set", SHOP, "max_attempts", "-1"),
        2,
        ("greater than or equal to 1",),
        unchanged="max_attempts",
    ),
    Case(
        "status-map-text",
        ("connection", "set", SHOP, "status_map", "notjson"),
        2,
        ("JSON",),
        unchanged="status_map",
    ),
    Case(
        "articles-text",
        ("connection", "set", SHOP, "shipping_articles", "FRAKT"),
        2,
        ("key=value",),
        unchanged="shipping_articles",
    ),
    Case(
        "articles-rate-not-a-number",
        ("connection", "set", SHOP, "shipping_articles", "abc=FRAKT"),
        2,
        ("not a VAT rate",),
        unchanged="shipping_articles",
    ),
    Case(
        "articles-rate-unknown",
        ("connection", "set", SHOP, "adjustment_articles", "33=ORE33"),
        2,
        ("not a VAT rate",),
        unchanged="adjustment_articles",
    ),
    Case(
        "unknown-status",
        ("connection", "set", SHOP, "trigger_statuses", "nosuch"),
        2,
        ("no order status 'nosuch'", "completed"),
        unchanged="trigger_statuses",
    ),
    Case(
        "mapped-status",
        ("connection", "set", SHOP, "status_map", "delivered=nosuch"),
        2,
        ("no order status 'nosuch'",),
        unchanged="status_map",
    ),
    Case(
        "plan-custom", ("connection", "set", SHOP, "plan", "custom"), 2, ("custom_quota",), unchanged="plan"
    ),
    Case("unknown-setting", ("connection", "set", SHOP, "no_such_setting", "x"), 2, ("unknown setting",)),
    Case("unset-unknown", ("connection", "unset", SHOP, "no_such_setting"), 2, ("unknown setting",)),
    Case(
        "date",
        ("connection", "set", SHOP, "start_date", "2024-13-01"),
        2,
        ("start_date",),
        unchanged="start_date",
    ),
    # -- orders
    Case(
        "retry-transferred", ("orders", "retry", "{transferred}"), 2, ("is transferred", "nothing to retry")
    ),
    Case("retry-unknown", ("orders", "retry", "999999"), 2, ("no order 999999",)),
    Case("show-unknown", ("orders", "show", "999999"), 2, ("no transfer for order 999999",)),
    Case("retry-unasked", ("orders", "retry"), 2, ("--all",)),
    Case("retry-reason", ("orders", "retry", "--reason", "no such reason text"), 2, ("no waiting order",)),
    Case("list-date", ("orders", "list", "--since", "yesterday"), 2, ("YYYY-MM-DD",)),
    # -- sync with orders waiting from an earlier sweep: exit 1, not 0
    Case("sync-waiting", ("sync", "--connection", SHOP), 1, ("wait in all",)),
]


def _fill(arg: str, world: World, busy: int) -> str:
    return arg.format(
        pg=pg_url().rsplit("/", 1)[0] + "/shopbridge_no_such_database",
        dead=world.dead,
        busy=busy,
        starweb=world.starweb.url,
        visma=world.visma.url,
        transferred=world.transferred,
    )


def _settings(home: Path) -> dict[str, Any]:
    store = open_store(data_dir=home)
    try:
        return dict(store.connections.find(SHOP).settings or {})
    finally:
        store.close()


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_failure_is_one_sentence_and_the_right_exit_code(case: Case, world: World, tmp_path: Path) -> None:
    if case.id == "db-missing":
        pg_check()  # a server is needed to say that a database is missing
    home, env = case.prepare(world, tmp_path) if case.prepare else (world.home, {})
    creds = {
        "STARWEB_CLIENT_ID": d.STARWEB_CLIENT_ID,
        "STARWEB_CLIENT_SECRET": d.STARWEB_CLIENT_SECRET,
        "VISMA_CLIENT_ID": d.VISMA_CLIENT_ID,
        "VISMA_CLIENT_SECRET": d.VISMA_CLIENT_SECRET,
    }
    before = _settings(world.home) if case.unchanged else None
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        args = [_fill(a, world, busy.getsockname()[1]) for a in case.args]
        if case.id == "data-dir-file":
            args = ["--data-dir", str(home), *args]
        out = cli(home, *args, env={**creds, **env})
    text = out.stdout + out.stderr
    assert out.returncode == case.code, text
    assert "Traceback" not in text and 'File "' not in text, text
    errors = [line for line in out.stdout.splitlines() if line.startswith("error:")]
    if case.code >= 2:
        assert len(errors) == 1, text  # one sentence
    for words in case.says:
        assert words in text, f"{words!r} not in: {text}"
    if case.unchanged:
        assert _settings(world.home).get(case.unchanged) == before.get(case.unchanged)


def test_a_mistyped_visma_secret_leaves_the_working_connection_working(world: World) -> None:
    store = world.store()
    conn = store.connections.find(SHOP)
    tokens = store.secrets.get(conn.id, VISMA_TOKENS)
    app = store.secrets.get(conn.id, "visma_app")
    store.close()
    out = cli(
        world.home, "connect", "visma", "--connection", SHOP, "--client-id", d.VISMA_CLIENT_ID,
        "--client-secret", "mistyped", "--code", "whatever", "--identity-url", "http://127.0.0.1:9",
        "--api-base", "http://127.0.0.1:9/v2",
    )  # fmt: skip
    assert out.returncode in (3, 4), out.stdout
    store = world.store()
    try:
        assert store.secrets.get(conn.id, VISMA_TOKENS) == tokens
        assert store.secrets.get(conn.id, "visma_app") == app
        assert store.connections.find(SHOP).visma_api_base == f"{world.visma.url}/v2"
    finally:
        store.close()
    assert cli(world.home, "sync", "--connection", SHOP).returncode == 1  # still syncs (orders wait)


def test_a_stray_request_does_not_end_the_consent_and_a_foreign_state_is_refused_as_ours(
    world: World, tmp_path: Path
) -> None:
    environ = {**os.environ, "SHOPBRIDGE_HOME": str(world.home), "COLUMNS": "500"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "shopbridge", "connect", "visma", "--connection", SHOP,
         "--client-id", d.VISMA_CLIENT_ID, "--client-secret", d.VISMA_CLIENT_SECRET,
         "--identity-url", world.visma.url, "--api-base", f"{world.visma.url}/v2",
         "--no-browser", "--port", "0", "--timeout", "60"],
        env=environ, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    callback = ""
    lines: list[str] = []
    deadline = time.monotonic() + 30
    while not callback and time.monotonic() < deadline:
        line = proc.stdout.readline()
        lines.append(line)
        m = re.search(r"redirect URI .*: (http://127\.0\.0\.1:\d+/callback)", line)
        callback = m.group(1) if m else ""
    assert callback, "".join(lines)
    url = proc.stdout.readline() + proc.stdout.readline()
    assert "/connect/authorize?" in url and "\n" in url  # the consent URL on a line of its own
    base = callback.rsplit("/", 1)[0]
    assert httpx.get(f"{base}/favicon.ico").status_code == 404
    assert httpx.get(callback).status_code == 400  # no code, no error: not the answer either
    assert proc.poll() is None  # still waiting for the real answer
    httpx.get(callback, params={"code": "abc", "state": "forged"})
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 3, out + err
    assert "shopbridge refused the answer" in out and "Traceback" not in out + err


def test_sync_names_every_failing_shop_and_shows_the_others(world: World, tmp_path: Path) -> None:
    """A shop that cannot be reached and a Visma that cannot be reached: exit 4, each named with its
    URL, and the working connection's summary is still there."""
    home = world.copy_home(tmp_path / "home")
    store = open_store(data_dir=home)

    async def add() -> None:
        await connect_sandboxes(store, "novisma", starweb_url=world.starweb.url, visma_url=world.visma.url)
        async with StarwebClient(
            f"{world.starweb.url}/api/v2", d.STARWEB_CLIENT_ID, d.STARWEB_CLIENT_SECRET, rate_limit=None
        ) as sw:  # a status of its own with one order, so only that order meets the dead Visma
            status = await sw.request(
                "POST", "order-statuses", json={"languages": [{"langCode": "sv", "name": "X"}]}
            )
            status_id = status["data"]["statusId"]
            sku = next(v.sku for p in demo_catalog() for v in p.variants if in_visma(v.sku))
            order = {"customerId": 1, "statusId": status_id, "items": [{"sku": sku, "quantity": 1}]}
            await sw.request("POST", "orders", json=order)
        store.connections.update_settings(
            store.connections.find("novisma").id, {"trigger_statuses": [str(status_id)]}
        )
        await connect_starweb(
            store,
            "noshop",
            base_url=f"{world.starweb.url}/shops/2/api/v2",
            client_id=d.STARWEB_CLIENT_ID,
            client_secret=d.STARWEB_CLIENT_SECRET,
            settings={"trigger_statuses": ["completed"]},  # status ids are per shop: not novisma's
            shop_of="novisma",
        )

    asyncio.run(add())
    dead = f"http://127.0.0.1:{world.dead}"
    novisma = store.connections.find("novisma")
    store.connections.update(novisma.id, visma_api_base=f"{dead}/v2")
    store.connections.update(store.connections.find("noshop").id, starweb_base_url=f"{dead}/shops/2/api/v2")
    store.close()
    out = cli(home, "sync")
    text = out.stdout + out.stderr
    assert out.returncode == 4, text
    assert "Traceback" not in text
    table = text.split("waiting in all", 1)[1]
    assert all(re.search(rf"│ {name}\s+│", table) for name in (SHOP, "novisma", "noshop")), text
    assert re.search(rf"novisma: Visma could not be reached at {dead}/v2", text), text
    assert re.search(
        rf"noshop: the Starweb shop \(connection 'noshop'\) could not be reached at {dead}", text
    )


def test_demo_says_what_its_exit_means() -> None:
    from shopbridge.cli.engine import EXIT_MEANING

    assert set(EXIT_MEANING) == {0, 1, 2, 3, 4}
    assert all(text.startswith(f"exit {code}:") for code, text in EXIT_MEANING.items())
