"""`shopbridge products initial|issues` as a script uses them: real processes, real sandboxes, exit codes."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest

from catalog_env import CatalogEnv, catalog_env_fixture

pytestmark = pytest.mark.asyncio(loop_scope="session")

env = catalog_env_fixture("cat_cli", empty=True)


def products(env: CatalogEnv, *args: str) -> subprocess.CompletedProcess[str]:
    environ = {**os.environ, "COLUMNS": "200"}
    cmd = [sys.executable, "-m", "shopbridge", "--data-dir", str(env.data_dir), "products", *args]
    return subprocess.run(cmd, env=environ, capture_output=True, text=True, timeout=120)


async def test_initial_from_visma_dry_run_apply_and_apply_again(env: CatalogEnv, tmp_path: Path) -> None:
    env.configure(preset="erp-master")
    env.visma_admin("/catalog", {"articles": 12, "prefix": "CLI", "stock": 7})
    report = tmp_path / "plan.csv"
    dry = products(env, "initial", "--from", "visma", "--dry-run", "--csv", str(report))
    assert dry.returncode == 0, dry.stdout + dry.stderr
    assert "initial sync from visma" in dry.stdout and "create" in dry.stdout and "12" in dry.stdout
    rows = list(csv.DictReader(report.open(encoding="utf-8")))
    assert sorted(r["sku"] for r in rows if r["kind"] == "create") == [f"CLI-{i:06d}" for i in range(1, 13)]
    assert (await env.shop_variants()) == {}, "a dry run writes nothing"

    applied = products(env, "initial", "--from", "visma", "--apply")
    assert applied.returncode == 0, applied.stdout + applied.stderr
    assert "'create': 12" in applied.stdout
    shop = await env.shop_variants()
    assert sorted(shop) == [f"CLI-{i:06d}" for i in range(1, 13)]

    again = products(env, "initial", "--from", "visma", "--apply")
    assert again.returncode == 0, again.stdout + again.stderr
    assert "nothing to write" in again.stdout

    listed = products(env, "issues")
    assert listed.returncode == 0, listed.stdout + listed.stderr


async def test_a_bad_item_is_exit_1_and_listed_by_products_issues(env: CatalogEnv) -> None:
    bulk = env.visma_admin("/catalog", {"articles": 1, "prefix": "CLX"})
    async with env.context() as ctx:
        body = {
            "Number": "CLI BAD/1",
            "Name": "Trasig",
            "CodingId": bulk["CodingId"],
            "UnitId": bulk["UnitId"],
        }
        await ctx.visma.request("POST", "articles", json={**body, "IsActive": True, "NetPrice": 10})
    dry = products(env, "initial", "--from", "visma", "--dry-run")
    assert dry.returncode == 1, dry.stdout + dry.stderr
    assert "CLI BAD/1" in dry.stdout and "no valid Starweb SKU" in dry.stdout

    applied = products(env, "initial", "--from", "visma", "--apply")
    assert applied.returncode == 1, applied.stdout + applied.stderr
    assert "'create': 1" in applied.stdout  # the good one went on
    listed = products(env, "issues")
    assert listed.returncode == 1, listed.stdout + listed.stderr
    assert "CLI BAD/1" in listed.stdout and "error" in listed.stdout
    assert "CLX-000001" in await env.shop_variants()
