"""The small, expected conveniences of the command line, through real processes: `--version`, `--json`,
`orders list` filters and search, `orders show` across shops and `--full`, `orders retry` by reason,
`connection show` marking what differs from the default."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from shopbridge.demo import DEMO_SETTINGS, start_sandboxes
from shopbridge.onboarding import connect_sandboxes, connect_starweb
from shopbridge.sandbox.common import defaults as d
from shopbridge.store import open_store
from shopbridge.sync.context import open_context
from shopbridge.sync.flows import sweep_connection

ONE, TWO = "c1", "c2"


def cli(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    environ = {**os.environ, "SHOPBRIDGE_HOME": str(home), "COLUMNS": "400"}
    cmd = [sys.executable, "-m", "shopbridge", *args]
    return subprocess.run(
        cmd, env=environ, capture_output=True, text=True, timeout=180, stdin=subprocess.DEVNULL
    )


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """Two shops of one Visma company whose order numbers repeat, both swept once."""
    starweb, visma = start_sandboxes(starweb_limit=20000, shops=2)
    path = tmp_path_factory.mktemp("conveniences")

    async def setup() -> None:
        store = open_store(data_dir=path)
        settings = {k: v for k, v in DEMO_SETTINGS.items() if k != "missing_article"}  # orders wait
        await connect_sandboxes(store, ONE, starweb_url=starweb.url, visma_url=visma.url, settings=settings)
        await connect_starweb(
            store,
            TWO,
            base_url=f"{starweb.url}/shops/2/api/v2",
            client_id=d.STARWEB_CLIENT_ID,
            client_secret=d.STARWEB_CLIENT_SECRET,
            shop_of=ONE,
        )
        for name in (ONE, TWO):
            async with open_context(store, name, starweb_rate_limit=20000) as ctx:
                await sweep_connection(ctx)
        store.close()

    asyncio.run(setup())
    yield path
    starweb.stop()
    visma.stop()


def shared_waiting_order(home: Path) -> str:
    """An order number waiting for a fix in both shops."""
    store = open_store(data_dir=home)
    try:
        one, two = (store.connections.find(n).id for n in (ONE, TWO))
        first = {t.starweb_order_id for t in store.transfers.all(one, state="waiting_for_fix", limit=10_000)}
        second = {t.starweb_order_id for t in store.transfers.all(two, state="waiting_for_fix", limit=10_000)}
        return sorted(first & second)[0]
    finally:
        store.close()


def test_version(home: Path) -> None:
    out = cli(home, "--version")
    assert out.returncode == 0 and out.stdout.startswith("shopbridge ")


def test_the_same_number_in_two_shops_is_shown_for_both_and_never_picked(home: Path) -> None:
    number = shared_waiting_order(home)
    both = cli(home, "orders", "show", number)
    assert both.returncode == 0, both.stdout
    assert f"{ONE}: order {number}" in both.stdout and f"{TWO}: order {number}" in both.stdout
    assert "is in 2 shops" in both.stdout
    one = cli(home, "orders", "show", number, "--connection", TWO)
    assert f"{TWO}: order {number}" in one.stdout and f"{ONE}: order {number}" not in one.stdout
    shown = json.loads(cli(home, "orders", "show", number, "--json").stdout)
    assert sorted(o["connection"] for o in shown) == [ONE, TWO]
    assert all(o["state"] == "waiting_for_fix" and o["attempts_log"] for o in shown)
    refused = cli(home, "orders", "retry", number)
    assert refused.returncode == 2 and "several shops" in refused.stdout
    assert cli(home, "orders", "retry", number, "--connection", ONE).returncode == 0


def test_show_full_does_not_cut_what_was_sent(home: Path) -> None:
    store = open_store(data_dir=home)
    try:
        conn = store.connections.find(ONE)
        t = next(
            t
            for t in store.transfers.all(conn.id, state="transferred", limit=1000)
            if len(json.dumps(store.journal.for_transfer(t.id)[-1].request, default=str)) > 400
        )
    finally:
        store.close()
    cut = cli(home, "orders", "show", t.starweb_order_id, "--connection", ONE)
    full = cli(home, "orders", "show", t.starweb_order_id, "--connection", ONE, "--full")
    assert "…" in cut.stdout and "--full" in cut.stdout
    assert "…" not in full.stdout.split("status event")[0]


def test_list_filters_by_date_searches_and_speaks_json(home: Path) -> None:
    every = json.loads(cli(home, "orders", "list", "--json", "--limit", "10000").stdout)
    assert {o["connection"] for o in every} == {ONE, TWO}
    assert json.loads(cli(home, "orders", "list", "--json", "--until", "2000-01-01").stdout) == []
    today = min(o["ordered"] or o["taken_in"] for o in every)[:10]
    assert len(
        json.loads(cli(home, "orders", "list", "--json", "--since", today, "--limit", "10000").stdout)
    ) == len(every)
    number = shared_waiting_order(home)
    found = json.loads(cli(home, "orders", "list", "--json", "--search", number).stdout)
    assert {(o["connection"], o["order"]) for o in found} >= {(ONE, number), (TWO, number)}
    assert all(number in o["order"] for o in found)


def test_list_searches_the_customers_e_mail_and_name(home: Path) -> None:
    every = json.loads(cli(home, "orders", "list", "--json", "--connection", ONE, "--limit", "10000").stdout)
    order = next(o for o in every if o["email"] and o["customer"])
    by_mail = json.loads(cli(home, "orders", "list", "--json", "--search", order["email"].upper()).stdout)
    assert order["order"] in {o["order"] for o in by_mail if o["connection"] == ONE}
    assert all(o["email"] == order["email"] for o in by_mail)
    part = order["customer"].split()[-1]
    by_name = json.loads(cli(home, "orders", "list", "--json", "--connection", ONE, "--search", part).stdout)
    assert order["order"] in {o["order"] for o in by_name}
    assert 0 < len(by_name) < len(every)  # a search, not the whole log


def test_retry_by_reason_and_sync_json(home: Path) -> None:
    out = cli(home, "orders", "retry", "--reason", "does not exist in visma", "--connection", ONE)
    assert out.returncode == 0 and "will be taken again" in out.stdout
    assert int(out.stdout.split()[0]) > 0
    synced = cli(home, "sync", "--json", "--connection", ONE)
    body = json.loads(synced.stdout)
    assert synced.returncode == body["exit_code"] == 1
    assert body["connections"][0]["connection"] == ONE and body["connections"][0]["waiting_in_all"] > 0


def test_connection_show_marks_what_differs_and_where_it_comes_from(home: Path) -> None:
    shown = json.loads(cli(home, "connection", "show", TWO, "--json").stdout)
    settings = shown["settings"]
    assert shown["shop_of"] == ONE
    assert settings["trigger_statuses"]["source"] == f"from {ONE}" and settings["trigger_statuses"]["changed"]
    assert settings["product_master"]["source"] == "set" and settings["product_master"]["value"] is False
    assert settings["max_attempts"]["source"] == "default" and not settings["max_attempts"]["changed"]
    table = cli(home, "connection", "show", ONE).stdout
    assert any(
        line.lstrip("│ ").startswith("* ") and "trigger_statuses" in line for line in table.splitlines()
    )


def test_products_issues_json(home: Path) -> None:
    out = cli(home, "products", "issues", "--json", "--connection", ONE)
    assert out.returncode in (0, 1) and isinstance(json.loads(out.stdout), list)
