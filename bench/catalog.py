"""Catalogue bench: the initial sync of N variants each way at Visma's real limit, and unchanged sweeps.

Both sandboxes run in their own processes, start from the `empty` seed (reference data only) and are
filled with the bulk admin routes (no rate limit), so the counts are exact; every API call gets 50 ms
added latency. A connection is made like a user makes one. Each sync runs in a child process of its
own, so its peak RSS is the engine's alone (not the bench's, not the sandboxes').

* A "starweb→visma" (preset ecom-master): a shop with N variants, half of them on one-variant products
  and half on four-variant products (N = 20,000: 10,000 + 2,500 x 4), an empty Visma article list.
  ArticleExportFlow plan(full=True) + apply at Visma's limit (600 requests per minute per endpoint,
  enforced by the sandbox): duration, articles created, share of the ceiling (the fastest time the
  limit allows for the calls to the articles endpoint over the time taken, goal >= 0.9), peak RSS.
* B "visma→starweb" (preset erp-master): N Visma stock articles, an empty shop. ShopCatalogFlow
  plan(full=True, observe=True) + apply. Every write goes to Starweb, whose limit is undocumented: the
  Starweb sandbox and client run at STARWEB_LIMIT (as bench/orders.py: effectively off), so this case
  measures calls per product and the engine's own speed; Visma's limit applies to its reads only.
* Both cases at N and N/4 (20,000 and 5,000): peak RSS, goal < 250 MB and the N run within 10 % of
  the N/4 run.
* After each initial sync, four sweeps over the unchanged catalogue (`flow.sweep()`): the hourly full
  check and the incremental sweep, each with cold caches (a new ConnectionContext) and warm ones (the
  same context again). API calls split into list pages, other reads (per-product variant lists, single
  items) and writes; goal: list pages only, zero writes; case A's full check lists the variants of a
  rolling sixth of the four-variant products (`FULL_CHECK_SLICES`), not of all of them.

Run: python bench/catalog.py [N] [--quick]
  N defaults to 20,000 (a full run takes about 50 minutes, case A at 20,000 alone about 35).
  --quick: N = 2,000 (unless given) and a 10 s limit window (600 per 10 s), a smoke run of a few minutes.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from _common import SandboxProcess, emit, peak_rss_mb, print_table

from shopbridge.sandbox.common import defaults as d
from shopbridge.sync.articles import FULL_CHECK_SLICES

LATENCY_MS = 50
STARWEB_LIMIT = 100_000  # Starweb's limit is undocumented; as bench/orders.py, the bench measures Visma's
VISMA_LIMIT = d.VISMA_RATE_LIMIT  # 600 per window per endpoint
QUICK_WINDOW_S = 10.0
WINDOW_OVERRIDE = os.environ.get("BENCH_CATALOG_WINDOW_S")  # profiling only: a shorter window, same limit
RSS_GOAL_MB = 250
RSS_GROWTH_GOAL = 0.10
SHARE_GOAL = 0.9
CONNECTION = "bench"
SWEEPS = (
    ("full check, cold", "full", True),
    ("full check, warm", "full", False),
    ("incremental, warm", "incremental", False),
    ("incremental, cold", "incremental", True),
)


# -- shared helpers ---------------------------------------------------------------------------------
def split_calls(calls: Counter[str]) -> dict[str, int]:
    """HTTP calls by kind: list pages (GET of a top-level collection), other reads (a collection under
    one item, e.g. a product's variants, or one item), writes, and token calls."""
    out = {"list_pages": 0, "other_reads": 0, "writes": 0, "token": 0}
    for key, n in calls.items():
        method, _, path = key.partition(" ")
        segments = [s for s in path.strip("/").split("/") if s]
        if segments and segments[-1] == "token":
            out["token"] += n
        elif method != "GET":
            out["writes"] += n
        elif len(segments) == 1 and segments[0] != "shop":
            out["list_pages"] += n
        else:
            out["other_reads"] += n
    return out


def fastest_s(calls: int, limit: int, window_s: float) -> float:
    """The fastest a sliding window starting empty lets `calls` through: one window's worth at once,
    the next a full window later, and so on."""
    return ((calls - 1) // limit) * window_s if calls > 0 else 0.0


def mix(n: int) -> tuple[int, int]:
    """(one-variant products, four-variant products) holding exactly n variants, about half each."""
    multi = n // 8
    return n - 4 * multi, multi


# -- the child: one case's sync and sweeps, in a process of its own ----------------------------------
async def child(case: str, data_dir: str, window_s: float) -> dict[str, Any]:
    from shopbridge.store import open_store
    from shopbridge.sync.articles import ArticleExportFlow
    from shopbridge.sync.context import open_context
    from shopbridge.sync.shop_catalog import ShopCatalogFlow

    store = open_store(data_dir=Path(data_dir))
    limits = {"starweb_rate_limit": STARWEB_LIMIT, "visma_rate_limit": VISMA_LIMIT}
    limits["visma_rate_window_s"] = window_s

    def make(ctx: Any) -> Any:
        return ArticleExportFlow(ctx) if case == "A" else ShopCatalogFlow(ctx)

    ctx = open_context(store, CONNECTION, **limits)
    flow = make(ctx)
    done_n = 0
    step = 1000

    def on_done(_action: Any) -> None:
        nonlocal done_n
        done_n += 1
        if done_n % step == 0:
            print(f"  [{case}] {done_n} written, {time.perf_counter() - start:.0f} s", file=sys.stderr)

    start = time.perf_counter()
    plan = await (flow.plan(full=True) if case == "A" else flow.plan(full=True, observe=True))
    planned_s = time.perf_counter() - start
    before_apply = Counter(ctx.visma.calls), Counter(ctx.starweb.calls)
    print(f"  [{case}] planned {plan.counts} in {planned_s:.1f} s", file=sys.stderr)
    done = await plan.apply(on_done=on_done)
    elapsed = time.perf_counter() - start
    apply_s = elapsed - planned_s
    visma_calls, starweb_calls = Counter(ctx.visma.calls), Counter(ctx.starweb.calls)
    await ctx.aclose()
    initial = {
        "seconds": round(elapsed, 2),
        "plan_s": round(planned_s, 2),
        "apply_s": round(apply_s, 2),
        "plan": plan.counts,
        "done": dict(done),
        "visma": split_calls(visma_calls),
        "starweb": split_calls(starweb_calls),
        "visma_articles_endpoint": sum(n for k, n in visma_calls.items() if k.split(" ")[1] == "articles"),
        "visma_article_creates": visma_calls.get("POST articles", 0),
        "visma_article_creates_in_apply": visma_calls.get("POST articles", 0)
        - before_apply[0].get("POST articles", 0),
        "starweb_by_call": _templated(starweb_calls - before_apply[1]),
        "visma_by_call": _templated(visma_calls),
        "peak_rss_mb": round(peak_rss_mb(), 1),
    }
    print(f"  [{case}] initial sync done in {elapsed:.1f} s: {dict(done)}", file=sys.stderr)
    if case == "A":  # the creates filled the articles endpoint's window; sweeps read that endpoint
        await asyncio.sleep(window_s + 1)

    sweeps = []
    ctx = None
    for label, mode, cold in SWEEPS:
        if cold or ctx is None:
            if ctx is not None:
                await ctx.aclose()
            ctx = open_context(store, CONNECTION, **limits)
            flow = make(ctx)
        # full check due now, or not for an hour (the default interval), whatever the cursor says
        ctx.settings.catalog_full_check_s = 0.0 if mode == "full" else 1e9
        v0, s0 = Counter(ctx.visma.calls), Counter(ctx.starweb.calls)
        t0 = time.perf_counter()
        report = await flow.sweep()
        seconds = time.perf_counter() - t0
        v1, s1 = Counter(ctx.visma.calls) - v0, Counter(ctx.starweb.calls) - s0
        sv, ss = split_calls(v1), split_calls(s1)
        sweeps.append(
            {
                "sweep": label,
                "seconds": round(seconds, 2),
                "list_pages": sv["list_pages"] + ss["list_pages"],
                "other_reads": sv["other_reads"] + ss["other_reads"],
                "writes": sv["writes"] + ss["writes"],
                "token": sv["token"] + ss["token"],
                "visma": sv,
                "starweb": ss,
                "by_call": _templated(v1 + s1),
                "counts": {k: n for k, n in report.counts.items() if n},
            }
        )
        print(f"  [{case}] sweep {label}: {seconds:.1f} s, {sv} / {ss}", file=sys.stderr)
    assert ctx is not None
    await ctx.aclose()
    return {"initial": initial, "sweeps": sweeps, "peak_rss_mb": round(peak_rss_mb(), 1)}


def _templated(calls: Counter[str]) -> dict[str, int]:
    """Calls with ids replaced by {id}, so the table shows the kinds of call."""
    out: Counter[str] = Counter()
    for key, n in calls.items():
        method, _, path = key.partition(" ")
        parts = [
            "{id}" if s.isdigit() or (len(s) == 36 and s.count("-") == 4) else s for s in path.split("/")
        ]
        out[f"{method} {'/'.join(parts)}"] += n
    return dict(sorted(out.items()))


def run_child(case: str, data_dir: Path, window_s: float) -> dict[str, Any]:
    cmd = [sys.executable, __file__, "--child", case, str(data_dir), str(window_s)]
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, text=True, check=False)
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"case {case} failed (exit {proc.returncode}): {proc.stdout[-2000:]}")
    return json.loads(lines[-1])


# -- the parent: sandboxes, seeding, the connection ---------------------------------------------------
async def case(name: str, n: int, window_s: float) -> dict[str, Any]:
    from shopbridge.onboarding import connect_sandboxes
    from shopbridge.store import open_store

    common = ["--seed", "empty", "--latency-ms", str(LATENCY_MS)]
    visma = SandboxProcess("visma", *common, "--rate-limit", str(VISMA_LIMIT), "--rate-window", str(window_s))
    starweb = SandboxProcess("starweb", *common, "--rate-limit", str(STARWEB_LIMIT))
    try:
        if name == "A":
            single, multi = mix(n)
            starweb.admin("POST", "/starweb/catalog", json={"products": single, "prefix": "ONE"})
            seeded = starweb.admin(
                "POST",
                "/starweb/catalog",
                json={"products": multi, "variants_per_product": 4, "prefix": "SIZE"},
            )
            assert seeded["total_variants"] == n, seeded
            preset = "ecom-master"
        else:
            seeded = visma.admin("POST", "/visma/catalog", json={"articles": n, "prefix": "ART"})
            assert seeded["created"] == n, seeded
            preset = "erp-master"
        data_dir = Path(tempfile.mkdtemp(prefix=f"bench-catalog-{name}-"))
        store = open_store(data_dir=data_dir)
        await connect_sandboxes(
            store, CONNECTION, starweb_url=starweb.url, visma_url=visma.url, settings={"preset": preset}
        )
        store.close()
        await asyncio.sleep(1)
        print(f"case {name} at {n}: sandboxes seeded, sync starts", file=sys.stderr)
        result = run_child(name, data_dir, window_s)
        result["shop_after"] = starweb.admin("GET", "/starweb/summary")
        result["visma_after"] = visma.admin("GET", "/visma/state/summary")
        return result
    finally:
        visma.stop()
        starweb.stop()


def figures_a(r: dict[str, Any], n: int, window_s: float) -> dict[str, Any]:
    ini = r["initial"]
    endpoint = ini["visma_articles_endpoint"]
    fastest = fastest_s(endpoint, VISMA_LIMIT, window_s)
    creates = ini["visma_article_creates"]
    apply_fastest = fastest_s(ini["visma_article_creates_in_apply"], VISMA_LIMIT, window_s)
    return {
        "variants": n,
        "products": sum(mix(n)),
        "seconds": ini["seconds"],
        "plan_s": ini["plan_s"],
        "apply_s": ini["apply_s"],
        "articles_created": ini["done"].get("create", 0),
        "failed": ini["done"].get("failed", 0),
        "visma_article_calls": endpoint,
        "visma_article_creates": creates,
        "writes_per_min": round(creates / (ini["seconds"] / 60), 1),
        "limit_per_min": round(VISMA_LIMIT * 60 / window_s, 1),
        "fastest_allowed_s": round(fastest, 1),
        "ceiling_share": round(fastest / ini["seconds"], 3) if fastest else None,
        "ceiling_share_goal": SHARE_GOAL,
        "write_phase_fastest_s": round(apply_fastest, 1),
        "write_phase_share": round(apply_fastest / ini["apply_s"], 3) if apply_fastest else None,
        "visma_calls": ini["visma"],
        "starweb_calls": ini["starweb"],
        "peak_rss_mb": ini["peak_rss_mb"],
        "peak_rss_goal_mb": RSS_GOAL_MB,
        "sweeps": r["sweeps"],
        "sweep_peak_rss_mb": r["peak_rss_mb"],
    }


def figures_b(r: dict[str, Any], n: int, window_s: float) -> dict[str, Any]:
    ini = r["initial"]
    created = ini["done"].get("create", 0)
    sw = ini["starweb"]
    starweb_total = sum(sw.values())
    return {
        "articles": n,
        "seconds": ini["seconds"],
        "plan_s": ini["plan_s"],
        "apply_s": ini["apply_s"],
        "products_created": created,
        "failed": ini["done"].get("failed", 0),
        "starweb_calls": sw,
        "starweb_calls_by_kind_in_apply": ini["starweb_by_call"],
        "starweb_calls_per_product": round(starweb_total / max(created, 1), 3),
        "starweb_writes_per_product": round(sw["writes"] / max(created, 1), 3),
        "starweb_writes_per_min": round(sw["writes"] / (ini["seconds"] / 60), 1),
        "starweb_limit_per_min": STARWEB_LIMIT,
        "minutes_at_starweb_default_300_per_min": round(starweb_total / d.STARWEB_RATE_LIMIT, 1),
        "visma_calls": ini["visma"],
        "peak_rss_mb": ini["peak_rss_mb"],
        "peak_rss_goal_mb": RSS_GOAL_MB,
        "sweeps": r["sweeps"],
        "sweep_peak_rss_mb": r["peak_rss_mb"],
    }


def full_check_reads_goal(size: int) -> int:
    """Case A's full check lists the variants of a rolling slice of the four-variant products."""
    return -(-mix(size)[1] // FULL_CHECK_SLICES)


def sweep_rows(prefix: str, sweeps: list[dict[str, Any]], full_goal: int = 0) -> list[tuple[str, Any, Any]]:
    rows: list[tuple[str, Any, Any]] = []
    for s in sweeps:
        goal = f"<= {full_goal}" if s["sweep"].startswith("full") else "0"
        rows += [
            (f"{prefix} {s['sweep']}: seconds", s["seconds"], None),
            (f"{prefix} {s['sweep']}: list pages", s["list_pages"], "all calls"),
            (f"{prefix} {s['sweep']}: other reads", s["other_reads"], goal),
            (f"{prefix} {s['sweep']}: writes", s["writes"], "0"),
        ]
    return rows


async def main(n: int, quick: bool) -> None:
    window_s = QUICK_WINDOW_S if quick else d.VISMA_RATE_WINDOW_S
    if WINDOW_OVERRIDE:
        window_s = float(WINDOW_OVERRIDE)
    small = n // 4
    started = time.perf_counter()
    out: dict[str, Any] = {}
    for size in (small, n):
        out[f"A_{size}"] = figures_a(await case("A", size, window_s), size, window_s)
        out[f"B_{size}"] = figures_b(await case("B", size, window_s), size, window_s)
    a, a4, b, b4 = out[f"A_{n}"], out[f"A_{small}"], out[f"B_{n}"], out[f"B_{small}"]
    growth_a = a["peak_rss_mb"] / a4["peak_rss_mb"] - 1
    growth_b = b["peak_rss_mb"] / b4["peak_rss_mb"] - 1
    limit = f"Visma {VISMA_LIMIT} per {window_s:g} s per endpoint"
    for size in (small, n):
        fa, fb = out[f"A_{size}"], out[f"B_{size}"]
        single, multi = mix(size)
        print_table(
            f"A starweb→visma, {size} variants ({single} one-variant + {multi} x 4), {limit}, "
            f"{LATENCY_MS} ms latency",
            [
                ("duration (s)", fa["seconds"], None),
                ("  plan / apply (s)", f"{fa['plan_s']:.1f} / {fa['apply_s']:.1f}", None),
                ("articles created", fa["articles_created"], size),
                ("failed", fa["failed"], "0"),
                ("calls to Visma's articles endpoint", fa["visma_article_calls"], None),
                ("article writes per minute", fa["writes_per_min"], None),
                ("  limit per minute (one endpoint)", fa["limit_per_min"], None),
                ("fastest the limit allows (s)", fa["fastest_allowed_s"], None),
                ("share of the ceiling (time)", fa["ceiling_share"], f">= {SHARE_GOAL}"),
                ("  write phase alone", fa["write_phase_share"], None),
                ("peak RSS, initial sync (MB)", fa["peak_rss_mb"], f"< {RSS_GOAL_MB}"),
                ("peak RSS, with the sweeps (MB)", fa["sweep_peak_rss_mb"], f"< {RSS_GOAL_MB}"),
                *sweep_rows("sweep", fa["sweeps"], full_check_reads_goal(size)),
            ],
        )
        print_table(
            f"B visma→starweb, {size} articles, Starweb {STARWEB_LIMIT}/min (undocumented limit), "
            f"{LATENCY_MS} ms latency",
            [
                ("duration (s)", fb["seconds"], None),
                ("  plan / apply (s)", f"{fb['plan_s']:.1f} / {fb['apply_s']:.1f}", None),
                ("products created", fb["products_created"], size),
                ("failed", fb["failed"], "0"),
                ("Starweb calls per product", fb["starweb_calls_per_product"], None),
                ("Starweb writes per product", fb["starweb_writes_per_product"], None),
                ("Starweb writes per minute", fb["starweb_writes_per_min"], None),
                ("minutes at Starweb 300/min", fb["minutes_at_starweb_default_300_per_min"], None),
                ("Visma calls (reads only)", sum(fb["visma_calls"].values()), None),
                ("peak RSS, initial sync (MB)", fb["peak_rss_mb"], f"< {RSS_GOAL_MB}"),
                ("peak RSS, with the sweeps (MB)", fb["sweep_peak_rss_mb"], f"< {RSS_GOAL_MB}"),
                *sweep_rows("sweep", fb["sweeps"]),
            ],
        )
        print("B Starweb calls in apply by kind:", fb["starweb_calls_by_kind_in_apply"])
    print_table(
        f"Peak RSS {n} vs {small}",
        [
            ("A growth", round(growth_a, 3), f"<= {RSS_GROWTH_GOAL}"),
            ("B growth", round(growth_b, 3), f"<= {RSS_GROWTH_GOAL}"),
            ("bench wall time (s)", round(time.perf_counter() - started, 1), None),
        ],
    )
    emit(
        {
            "bench": "catalog",
            "variants": n,
            "small": small,
            "quick": quick,
            "latency_ms": LATENCY_MS,
            "visma_limit": VISMA_LIMIT,
            "visma_window_s": window_s,
            "starweb_limit_per_min": STARWEB_LIMIT,
            "rss_growth_A": round(growth_a, 3),
            "rss_growth_B": round(growth_b, 3),
            "rss_growth_goal": RSS_GROWTH_GOAL,
            "sweep_goal": "list pages only, zero writes",
            "A_full_check_variant_reads": out[f"A_{n}"]["sweeps"][0]["other_reads"],
            "A_full_check_variant_reads_goal": full_check_reads_goal(n),
            "A_full_check_variant_reads_before": mix(n)[1],
            **out,
        }
    )


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        result = asyncio.run(child(sys.argv[2], sys.argv[3], float(sys.argv[4])))
        print(json.dumps(result, default=str), flush=True)
    else:
        args = [a for a in sys.argv[1:] if not a.startswith("--")]
        is_quick = "--quick" in sys.argv[1:]
        asyncio.run(main(int(args[0]) if args else (2000 if is_quick else 20_000), is_quick))
