"""`shopbridge doctor` against both sandboxes: what it reports per connection and shop, what `--fix`
repairs, and that after `--fix` no demo order waits for a service article."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from shopbridge.demo import DEMO_SETTINGS, start_sandboxes
from shopbridge.onboarding import connect_sandboxes, connect_starweb
from shopbridge.sandbox.common import defaults as d
from shopbridge.starweb.client import StarwebClient
from shopbridge.store import open_store
from shopbridge.sync.context import open_context
from shopbridge.sync.flows import sweep_connection

ROOT, SHOP2 = "doc", "doc2"
SERVICE = ("FRAKT", "RABATT", "FAKTURAAVGIFT")


def cli(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    environ = {**os.environ, "SHOPBRIDGE_HOME": str(home), "COLUMNS": "400"}
    cmd = [sys.executable, "-m", "shopbridge", *args]
    return subprocess.run(
        cmd, env=environ, capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL
    )


def findings(out: subprocess.CompletedProcess[str]) -> list[dict[str, Any]]:
    return json.loads(out.stdout)["findings"]


def lines(found: list[dict[str, Any]], connection: str, check: str, level: str | None = None) -> list[str]:
    return [
        f["message"]
        for f in found
        if f["connection"] == connection and f["check"] == check and (level is None or f["level"] == level)
    ]


class World:
    def __init__(self, home: Path) -> None:
        self.home = home
        self.starweb, self.visma = start_sandboxes(starweb_limit=20000, shops=2)

    def store(self) -> Any:
        return open_store(data_dir=self.home)

    def configure(self, name: str, **settings: Any) -> None:
        store = self.store()
        try:
            store.connections.update_settings(store.connections.find(name).id, settings)
        finally:
            store.close()

    async def sweep(self, name: str) -> Any:
        store = self.store()
        try:
            async with open_context(store, name, starweb_rate_limit=20000) as ctx:
                return await sweep_connection(ctx)
        finally:
            store.close()


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Any:
    w = World(tmp_path_factory.mktemp("doctor"))

    async def setup() -> None:
        store = w.store()
        await connect_sandboxes(
            store, ROOT, starweb_url=w.starweb.url, visma_url=w.visma.url, settings=DEMO_SETTINGS
        )
        await connect_starweb(
            store,
            SHOP2,
            base_url=f"{w.starweb.url}/shops/2/api/v2",
            client_id=d.STARWEB_CLIENT_ID,
            client_secret=d.STARWEB_CLIENT_SECRET,
            shop_of=ROOT,
        )
        store.close()

    asyncio.run(setup())
    yield w
    w.starweb.stop()
    w.visma.stop()


def test_doctor_reports_and_fix_creates_the_service_articles_so_no_order_waits_for_them(world: World) -> None:
    before = cli(world.home, "doctor", "--json", "--connection", ROOT)
    assert before.returncode == 1, before.stdout + before.stderr
    found = findings(before)
    missing = lines(found, ROOT, "service_articles", "fail")
    assert any("RABATT25" in m for m in missing) and any("FRAKT12" in m for m in missing), found
    assert all(f["fix"] for f in found if f["level"] == "fail" and f["check"] == "service_articles"), (
        "each failing line says how to fix it"
    )

    report = asyncio.run(world.sweep(ROOT))
    waiting_for_service = {k: v for k, v in report.waiting.items() if any(s in v for s in SERVICE)}
    assert waiting_for_service, "the demo data has orders with discounts and shipping at 12 %"

    fixed = cli(world.home, "doctor", "--fix", "--json", "--connection", ROOT)
    after = findings(fixed)
    assert not lines(after, ROOT, "service_articles", "fail"), after
    assert any(f["fixed"] for f in after if f["check"] == "service_articles")
    assert cli(world.home, "orders", "retry", "--all").returncode == 0
    report = asyncio.run(world.sweep(ROOT))
    assert not [v for v in report.waiting.values() if any(s in v for s in SERVICE)], report.waiting
    store = world.store()
    try:
        conn = store.connections.find(ROOT)
        for order in waiting_for_service:
            t = store.transfers.get_by_order(conn.id, order)
            assert not any(s in (t.last_error or "") for s in SERVICE), (order, t.last_error)
    finally:
        store.close()
    again = findings(cli(world.home, "doctor", "--json", "--connection", ROOT))
    assert all(f["level"] == "ok" for f in again if f["check"] == "service_articles")


async def _status_in_shop_one(world: World) -> int:
    async with StarwebClient(
        f"{world.starweb.url}/api/v2", d.STARWEB_CLIENT_ID, d.STARWEB_CLIENT_SECRET, rate_limit=None
    ) as sw:
        body = {"languages": [{"langCode": "sv", "name": "Bara i butik 1"}]}
        return int((await sw.request("POST", "order-statuses", json=body))["data"]["statusId"])


def test_doctor_checks_each_shop_scopes_modules_plan_capture_and_hooks(world: World) -> None:
    only_in_one = asyncio.run(_status_in_shop_one(world))
    httpx.post(f"{world.visma.url}/_sandbox/visma/company", json={"has_order_module": False}, timeout=10)
    world.configure(
        ROOT,
        status_map={"delivered": str(only_in_one), "invoiced": "completed"},
        paid_payment_methods=["card"],
        document_type="order",
        plan="100",
    )
    try:
        out = cli(world.home, "doctor", "--json")
        assert out.returncode == 1, out.stdout + out.stderr
        found = findings(out)
        # status ids are per shop: the root's map is fine in its own shop, not in the shop that inherits it
        assert lines(found, ROOT, "statuses", "ok"), found
        assert any(f"no order status '{only_in_one}'" in m for m in lines(found, SHOP2, "statuses", "fail"))
        assert any("inherited" in m for m in lines(found, SHOP2, "statuses", "warn"))
        assert any("ea:purchase" in m for m in lines(found, ROOT, "scopes", "fail"))
        assert any("order module" in m for m in lines(found, ROOT, "order_module", "fail"))
        assert any("multishop" in m for m in lines(found, ROOT, "plan", "fail"))
        assert lines(found, ROOT, "web_hooks", "warn")  # none registered: polling only
        assert "-" in {f["connection"] for f in found}  # the data directory is checked once
        text = cli(world.home, "doctor").stdout
        assert "fail" in text and "ea:purchase" in text and "Traceback" not in text
    finally:
        httpx.post(f"{world.visma.url}/_sandbox/visma/company", json={"has_order_module": True}, timeout=10)
        world.configure(ROOT, status_map=None, paid_payment_methods=None, document_type=None, plan=None)
    drafts = findings(cli(world.home, "doctor", "--json", "--connection", ROOT))
    capture = lines(drafts, ROOT, "capture")
    assert capture and "not captured through status" in capture[0]

    dead = "http://127.0.0.1:9"  # nothing listens: registered, but it does not answer
    hooked = findings(
        cli(world.home, "doctor", "--fix", "--json", "--public-url", dead, "--connection", ROOT)
    )
    assert any(f["fixed"] for f in hooked if f["check"] == "web_hooks" and f["connection"] == ROOT), hooked
    assert any("does not answer" in m for m in lines(hooked, ROOT, "web_hooks", "fail")), hooked


def test_the_demo_runs_doctor_fix_and_says_what_its_exit_means(tmp_path: Path) -> None:
    environ = {**os.environ, "COLUMNS": "300"}
    cmd = [sys.executable, "-m", "shopbridge", "demo", "--no-serve", "--data-dir", str(tmp_path)]
    out = subprocess.run(cmd, env=environ, capture_output=True, text=True, timeout=600)
    text = out.stdout + out.stderr
    assert out.returncode == 1, text  # the demo data holds orders that wait on purpose
    assert "doctor --fix" in text and "(fixed)" in text and "Traceback" not in text
    assert out.stdout.strip().splitlines()[-2].startswith("exit 1:") or "exit 1:" in out.stdout[-400:]
    store = open_store(data_dir=tmp_path)
    try:
        waiting = store.transfers.all(state="waiting_for_fix", limit=1000)
        assert waiting, "the demo's bad orders wait"
        assert not [t.last_error for t in waiting if any(s in (t.last_error or "") for s in SERVICE)]
    finally:
        store.close()


def test_a_cost_centre_or_project_visma_lacks_is_refused_and_reported(world: World) -> None:
    async def dimensions() -> tuple[list[Any], list[Any]] | None:
        from shopbridge.http.errors import NotFoundError
        from shopbridge.sync.setting_checks import visma_list

        store = world.store()
        try:
            async with open_context(store, ROOT) as ctx:
                try:
                    return await visma_list(ctx, "cost_centers", "costcenters"), await visma_list(
                        ctx, "projects", "projects"
                    )
                except NotFoundError:
                    return None
        finally:
            store.close()

    found = asyncio.run(dimensions())
    if found is None:
        pytest.skip("this sandbox serves no /costcenters yet (they come with branch sandbox)")
    centres, projects = found
    refused = cli(world.home, "connection", "set", SHOP2, "cost_center_item_id", "no-such-item")
    assert refused.returncode == 2 and "no cost centre item 'no-such-item'" in refused.stdout, refused.stdout
    refused = cli(world.home, "connection", "set", SHOP2, "project_id", "no-such-project")
    assert refused.returncode == 2 and "no project 'no-such-project'" in refused.stdout, refused.stdout
    items = [i for c in centres for i in c.get("Items") or [] if i.get("IsActive") is not False]
    if items:
        ok = cli(world.home, "connection", "set", SHOP2, "cost_center_item_id", str(items[0]["Id"]))
        assert ok.returncode == 0, ok.stdout
    if projects:
        ok = cli(world.home, "connection", "set", SHOP2, "project_id", str(projects[0]["Id"]))
        assert ok.returncode == 0, ok.stdout
    world.configure(SHOP2, project_id="no-such-project")  # stored behind the CLI's back: doctor says so
    try:
        report = findings(cli(world.home, "doctor", "--json", "--connection", SHOP2))
        assert any("no project 'no-such-project'" in m for m in lines(report, SHOP2, "multishop", "fail"))
    finally:
        world.configure(SHOP2, project_id=None, cost_center_item_id=None)
