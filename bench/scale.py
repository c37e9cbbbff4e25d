"""Scale-out bench: 200 connections × 20 orders at 50 ms latency, with 1, 2 and 4 worker processes.

One Visma company with 200 Starweb shops (a multishop connection each) on one PostgreSQL database;
RabbitMQ broker, Redis for the shared rate limits; both sandboxes add 50 ms to every API call.

1. **While the limit does not bind** (Visma's limit off in the sandbox and in the clients): for N = 1,
   2, 4 worker processes, a fresh backlog of 200 × 20 orders; orders transferred per second over a
   window after a warm-up. Goal: throughput(N) ≥ 0.8 × N × throughput(1).
2. **When it binds**: Visma's limit is `LIMIT` requests per `WINDOW_S` per endpoint (Visma's own rate,
   10/s, in a shorter window so the bench is short), held by the 4 workers together through Redis.
   Goal: the busiest endpoint's accepted requests ≥ 0.9 of the ceiling, and 0 answers 429.
3. In both: two sweeps of one connection never run at once (lease holders' attempts never overlap).

Each worker runs one sweep at a time with 2 orders in flight (`order_concurrency`): the machine has
2 cores, shared by the workers, both sandboxes, PostgreSQL, RabbitMQ and Redis; workers this small
stay latency-bound, so the figures show what the cluster adds (leases, queue, shared store), not
how soon 2 cores run out. The table prints the CPU the whole machine used in each run, and the JSON
the CPU milliseconds per order of each part (workers, scheduler, sandboxes, PostgreSQL, RabbitMQ,
Redis); the difference to the machine's total is whatever else ran meanwhile.

Run: python bench/scale.py [--quick]   (--quick: 20 connections × 10 orders, short windows)
"""

from __future__ import annotations

import asyncio
import os
import random
import sys
import time

from _cluster import (
    Processes,
    clean_skus,
    close_shop_clients,
    company,
    make_customers,
    make_orders,
    new_status,
    overlapping_sweeps,
    transfer_states,
)
from _common import SandboxProcess, emit, print_table

QUICK = "--quick" in sys.argv
SHOPS, PER_SHOP = (20, 10) if QUICK else (200, 20)
WARMUP_S, WINDOW_S_RUN = (5.0, 15.0) if QUICK else (10.0, 40.0)
LATENCY_MS = 50
ORDER_CONCURRENCY = 2
LIMIT, WINDOW_S = 100, 10.0  # Visma's 10 requests/s per endpoint, counted in 10 s windows
BIND_S = 20.0 if QUICK else 40.0
NO_LIMIT = 1_000_000
CUSTOMERS_PER_SHOP = 3
SWEEP_EVERY_S = 30.0  # each connection's sweep drains its backlog; idle re-sweeps would only add load


def machine_cpu_s() -> float:
    """CPU seconds used by the whole machine so far (user + system, all cores)."""
    with open("/proc/stat", encoding="ascii") as fh:
        fields = [int(x) for x in fh.readline().split()[1:]]
    return (fields[0] + fields[1] + fields[2]) / os.sysconf("SC_CLK_TCK")


_COMMS = {"postgres": "postgres", "beam.smp": "rabbitmq", "redis-server": "redis"}


def _proc_cpu_s(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def cpu_by_role(roles: dict[str, list[int]]) -> dict[str, float]:
    """CPU seconds so far of each role's processes, and of PostgreSQL, RabbitMQ and Redis by name."""
    out = {role: sum(_proc_cpu_s(p) for p in pids) for role, pids in roles.items()}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/comm", encoding="ascii") as fh:
                    role = _COMMS.get(fh.read().strip())
            except OSError:
                continue
            if role:
                out[role] = out.get(role, 0.0) + _proc_cpu_s(int(entry))
    return out


def transferred(c) -> int:
    return transfer_states(c).get("transferred", 0)


async def window_while_busy(c, base: int, backlog: int, longest_s: float) -> tuple[int, float, float]:
    """Wait up to `longest_s`, ending early once 90 % of the backlog is done (a drained backlog is not
    slowness): (transferred, machine CPU s, time) at the window's end."""
    end = time.perf_counter() + longest_s
    while time.perf_counter() < end:
        await asyncio.sleep(0.5)
        if transferred(c) - base >= 0.9 * backlog:
            break
    return transferred(c), machine_cpu_s(), time.perf_counter()


async def throughput_run(c, visma, starweb, n: int, skus: list[str]) -> dict:
    """N workers on a fresh backlog; orders/s over the window after the warm-up."""
    await new_status(c, starweb.url, f"Scale{n}")
    await make_orders(c, starweb.url, PER_SHOP, skus)
    base = transferred(c)
    procs = Processes(c.env, concurrency=1, client_kw={"visma_rate_limit": NO_LIMIT}, interval=SWEEP_EVERY_S)
    procs.start(n, schedulers=1)
    backlog = SHOPS * PER_SHOP
    try:
        roles = {
            "visma sandbox": [visma.proc.pid],
            "starweb sandbox": [starweb.proc.pid],
            "workers": [p.pid for p in procs.workers],
            "scheduler": [p.pid for p in procs.schedulers],
            "bench": [os.getpid()],
        }
        await asyncio.sleep(WARMUP_S)
        a, cpu_a, t_a, roles_a = transferred(c), machine_cpu_s(), time.perf_counter(), cpu_by_role(roles)
        b, cpu_b, t_b = await window_while_busy(c, base, backlog, WINDOW_S_RUN)
        roles_b = cpu_by_role(roles)
    finally:
        procs.stop()
    rate = (b - a) / max(t_b - t_a, 1e-9)
    left = backlog - (b - base)
    done = max(b - a, 1)
    return {
        "workers": n,
        "orders_per_s": round(rate, 2),
        "cpu_cores_busy": round((cpu_b - cpu_a) / (t_b - t_a), 2),
        "cpu_ms_per_order": round((cpu_b - cpu_a) * 1000 / done, 1),
        "cpu_ms_per_order_by_role": {
            role: round((roles_b[role] - roles_a.get(role, 0.0)) * 1000 / done, 1) for role in roles_b
        },
        "left": left,
    }


async def binding_run(c, visma, starweb, skus: list[str]) -> dict:
    """4 workers against Visma's limit, shared through Redis: the busiest endpoint's share of the ceiling."""
    await new_status(c, starweb.url, "Bind")
    await make_orders(c, starweb.url, PER_SHOP, skus)
    visma.admin(
        "POST", "/ratelimit", json={"limit": LIMIT, "window_s": WINDOW_S, "enabled": True, "reset": True}
    )
    kw = {"visma_rate_limit": LIMIT, "visma_rate_window_s": WINDOW_S}
    procs = Processes(c.env, concurrency=1, client_kw=kw, interval=SWEEP_EVERY_S)
    procs.start(4, schedulers=1)
    base = transferred(c)
    try:
        await asyncio.sleep(WARMUP_S)
        visma.admin("POST", "/stats/reset")
        t_a = time.perf_counter()
        await window_while_busy(c, base, SHOPS * PER_SHOP, BIND_S)
        stats = visma.admin("GET", "/stats")
        t_b = time.perf_counter()
    finally:
        procs.stop()
        visma.admin("POST", "/ratelimit", json={"enabled": False})
    per_endpoint: dict[str, int] = {}
    limited = 0
    for route, counts in (stats.get("by_route_status") or {}).items():
        path = route.split(" ", 1)[1] if " " in route else route
        segment = path.strip("/").split("/")[0].lower()
        ok = sum(n for status, n in counts.items() if status != "429")
        per_endpoint[segment] = per_endpoint.get(segment, 0) + ok
        limited += int(counts.get("429", 0))
    busiest, count = max(per_endpoint.items(), key=lambda kv: kv[1])
    ceiling = LIMIT / WINDOW_S * (t_b - t_a)
    return {
        "endpoint": busiest,
        "accepted": count,
        "ceiling": round(ceiling, 1),
        "share": round(count / ceiling, 3),
        "429": limited,
    }


async def run(visma: SandboxProcess, starweb: SandboxProcess) -> None:
    t0 = time.perf_counter()
    settings = {"order_concurrency": ORDER_CONCURRENCY, "poll_interval_s": SWEEP_EVERY_S}
    c = await company(starweb.url, visma.url, SHOPS, settings)
    try:
        skus = await clean_skus(c)
        await make_customers(c, starweb.url, CUSTOMERS_PER_SHOP)
        print(f"{SHOPS} connections ready after {time.perf_counter() - t0:.0f} s")
        runs = []
        for n in (1, 2, 4):
            r = await throughput_run(c, visma, starweb, n, skus)
            print(f"  {n} worker(s): {r}")
            runs.append(r)
        bind = await binding_run(c, visma, starweb, skus)
        print(f"  limit binding: {bind}")
        clashes = overlapping_sweeps(c)
    finally:
        c.close()
    one = runs[0]["orders_per_s"] or 1e-9
    scaling = {r["workers"]: round(r["orders_per_s"] / (r["workers"] * one), 3) for r in runs}
    rows = [(f"{r['workers']} worker(s): orders/s", r["orders_per_s"], None) for r in runs]
    rows += [(f"{n} workers vs {n} × one worker", v, ">= 0.8") for n, v in scaling.items() if n > 1]
    rows += [(f"machine CPU cores busy, {r['workers']} worker(s)", r["cpu_cores_busy"], "of 2") for r in runs]
    rows += [
        (f"workers' CPU ms per order, {r['workers']} worker(s)", r["cpu_ms_per_order_by_role"]["workers"], "")
        for r in runs
    ]
    rows += [
        (f"limit binding: {bind['endpoint']} accepted / ceiling", bind["share"], ">= 0.9"),
        ("limit binding: 429 answers", bind["429"], 0),
        ("sweeps of one connection at once > 1", clashes, 0),
    ]
    print_table(f"Scale-out: {SHOPS} connections × {PER_SHOP} orders, {LATENCY_MS} ms latency", rows)
    goals = {
        "scaling": all(v >= 0.8 for n, v in scaling.items() if n > 1),
        "limit_share": bind["share"] >= 0.9,
        "no_429": bind["429"] == 0,
        "one_sweep_per_connection": clashes == 0,
    }
    emit(
        {
            "bench": "scale",
            "quick": QUICK,
            "connections": SHOPS,
            "orders_per_connection": PER_SHOP,
            "latency_ms": LATENCY_MS,
            "runs": runs,
            "scaling_vs_n_times_one": scaling,
            "limit": {"limit": LIMIT, "window_s": WINDOW_S, **bind},
            "overlapping_sweeps": clashes,
            "goals": {"scaling": ">= 0.8", "limit_share": ">= 0.9", "429": 0, "overlapping_sweeps": 0},
            "met": all(goals.values()),
            "goals_met": goals,
            "note": "2 cores shared by workers, sandboxes, PostgreSQL, RabbitMQ, Redis; see cpu_cores_busy",
        }
    )


async def main() -> None:
    random.seed(5)
    common = ("--seed", "demo", "--latency-ms", str(LATENCY_MS))
    visma = SandboxProcess("visma", *common, "--rate-limit", "0")
    # 200 shops seeded empty (200 demo shops take a quarter of an hour to seed); customers made by the bench
    starweb = SandboxProcess(
        "starweb",
        "--seed",
        "empty",
        "--latency-ms",
        str(LATENCY_MS),
        "--rate-limit",
        str(NO_LIMIT),
        "--shops",
        str(SHOPS),
        start_timeout_s=300,
    )
    try:
        await run(visma, starweb)
    finally:
        await close_shop_clients()
        visma.stop()
        starweb.stop()


if __name__ == "__main__":
    asyncio.run(main())
