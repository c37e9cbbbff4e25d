"""Fault campaign: a real cluster under SIGKILL, 5xx, hangs, late deliveries and token expiry.

One Visma company with 20 Starweb shops (20 connections) and 100 orders each (2,000), on one
PostgreSQL database; 4 worker processes and 2 schedulers (RabbitMQ broker, Redis for the shared
limits). Visma answers 10 % of API calls with a 5xx, lets 5 % hang past the client's timeout,
applies 5 % of writes only after the client gave up (late delivery), and issues access tokens that
live 20 s. Meanwhile a random worker is SIGKILLed (every 12th kill a scheduler) and started again,
the kills spread over the time the backlog takes (0.6-3 s apart), until at least 200 kills and every
order has an outcome; the faults stay on to the end. Then, faults off, the sweeps go on for 30 s
(a write-back a kill interrupted is repaired by the next sweep) before the checks.

Goals: 0 duplicate documents (no reference on two drafts/invoices), 0 duplicate customers (no
e-mail created twice), 0 lost (every order transferred, or waiting with a reason), every
transferred order's write-back names its document.

Run: python bench/faults.py [--quick]   (--quick: 4 shops × 25 orders, 40 kills: a smoke run)
"""

from __future__ import annotations

import asyncio
import random
import sys
import time

from _cluster import (
    Processes,
    clean_skus,
    close_shop_clients,
    company,
    make_orders,
    new_status,
    overlapping_sweeps,
    tracked_outcomes,
    visma_customer_emails,
    visma_documents,
    write_backs,
)
from _common import SandboxProcess, emit, print_table

QUICK = "--quick" in sys.argv
SHOPS, PER_SHOP, MIN_KILLS = (4, 25, 40) if QUICK else (20, 100, 200)
WORKERS = 4
KILL_EVERY_S = 0.6
TIMEOUT_S = 3.0  # the workers' client timeout
HANG_S = 5.0  # hangs outlast it
LATE_S = 5.0  # late deliveries land after the client gave up (and after its one look)
GRACE_S = 12.0  # in-doubt grace: longer than a late delivery can take here
TOKEN_TTL_S = 20
DEADLINE_S = 3600
SETTLE_S = 30  # after the last order settled: faults off, sweeps repair write-backs a kill interrupted
FAULTS = {
    "error_rate": 0.10,
    "hang_rate": 0.05,
    "hang_s": HANG_S,
    "late_rate": 0.05,
    "late_s": LATE_S,
    "token_ttl_s": TOKEN_TTL_S,
    "paths": ["/v2/"],  # the API; the identity server is not faulted (see the report)
    "seed": 42,
}
FINAL = {"transferred", "needs_review", "waiting_for_fix", "skipped"}


async def run(visma: SandboxProcess, starweb: SandboxProcess) -> None:
    t0 = time.perf_counter()
    settings = {"in_doubt_grace_s": GRACE_S, "poll_interval_s": 2.0}
    c = await company(starweb.url, visma.url, SHOPS, settings)
    procs = Processes(
        c.env,
        concurrency=3,
        client_kw={"visma_timeout": TIMEOUT_S, "starweb_timeout": TIMEOUT_S},
        interval=2.0,
    )
    try:
        await new_status(c, starweb.url, "Faults")
        skus = await clean_skus(c)
        emails_before = await visma_customer_emails(c)
        orders = await make_orders(c, starweb.url, PER_SHOP, skus)
        total = sum(len(v) for v in orders.values())
        print(
            f"{total} orders in {SHOPS} shops ready after {time.perf_counter() - t0:.0f} s; "
            "faults on, workers up"
        )
        visma.admin("POST", "/faults", json=FAULTS)
        procs.start(WORKERS, schedulers=2)
        rng = random.Random(7)
        started = time.perf_counter()
        last_print = 0.0
        history: list[tuple[float, int]] = []
        while True:
            states, _ = tracked_outcomes(c, orders)
            done = sum(n for s, n in states.items() if s in FINAL)
            kills = sum(procs.kills.values())
            now = time.perf_counter()
            history = [*history[-30:], (now, done)]
            if kills < MIN_KILLS:
                procs.kill_random(rng)
            elapsed = now - started
            if elapsed - last_print > 10:
                last_print = elapsed
                print(f"  {elapsed:5.0f} s  kills {dict(procs.kills)}  {dict(states)}")
            if kills >= MIN_KILLS and done >= total:
                break
            if elapsed > DEADLINE_S:
                print("deadline reached")
                break
            await asyncio.sleep(kill_pause(history, total - done, MIN_KILLS - kills) * rng.uniform(0.7, 1.3))
        elapsed = time.perf_counter() - started
        fault_counts = visma.admin("GET", "/stats")
        visma.admin("PUT", "/faults", json={})
        await asyncio.sleep(SETTLE_S)
    finally:
        procs.stop()
        visma.admin("PUT", "/faults", json={})
    refs = await visma_documents(c)
    emails_after = await visma_customer_emails(c)
    states, lost = tracked_outcomes(c, orders)
    ours = {f"{'Starweb ' if k == 1 else f'b{k} '}{oid}" for k, ids in orders.items() for oid in ids}
    duplicates = sum(n - 1 for r, n in refs.items() if r in ours and n > 1)
    dup_customers = sum(1 for e, n in emails_after.items() if e and n - emails_before.get(e, 0) > 1)
    transferred_docs = sum(1 for r in ours if refs.get(r))
    waiting = {s: n for s, n in states.items() if s not in ("transferred",)}
    ok_wb, bad_wb = await write_backs(c, starweb.url, orders)
    sweeps_clash = overlapping_sweeps(c)
    c.close()
    rows = [
        ("orders", total, ">= 2000" if not QUICK else None),
        ("connections", SHOPS, ">= 20" if not QUICK else None),
        ("worker processes", WORKERS, None),
        ("SIGKILLs (workers)", procs.kills["worker"], None),
        ("SIGKILLs (scheduler)", procs.kills["scheduler"], None),
        ("SIGKILLs total", sum(procs.kills.values()), f">= {MIN_KILLS}"),
        ("campaign seconds", round(elapsed, 1), None),
        ("transferred", states.get("transferred", 0), None),
        ("waiting with a reason", sum(waiting.values()), None),
        ("duplicate documents", duplicates, 0),
        ("duplicate customers", dup_customers, 0),
        ("lost", lost, 0),
        ("write-backs matching", ok_wb, "= transferred"),
        ("write-backs wrong", bad_wb, 0),
        ("sweeps of one connection at once > 1", sweeps_clash, 0),
    ]
    print_table("Fault campaign (4 workers, 2 schedulers, PostgreSQL, RabbitMQ, Redis)", rows)
    print(f"final states: {dict(states)}; documents for our orders: {transferred_docs}")
    print(f"Visma answers by status: {fault_counts.get('by_status')}")
    goals = {
        "duplicate_documents": duplicates == 0,
        "duplicate_customers": dup_customers == 0,
        "lost": lost == 0,
        "write_backs": bad_wb == 0 and ok_wb == states.get("transferred", 0),
        "kills": sum(procs.kills.values()) >= MIN_KILLS,
        "sweeps_at_once": sweeps_clash == 0,
    }
    emit(
        {
            "bench": "faults",
            "quick": QUICK,
            "orders": total,
            "connections": SHOPS,
            "workers": WORKERS,
            "kills": dict(procs.kills),
            "faults": {k: v for k, v in FAULTS.items() if k != "paths"},
            "seconds": round(elapsed, 1),
            "states": dict(states),
            "duplicate_documents": duplicates,
            "duplicate_customers": dup_customers,
            "lost": lost,
            "write_backs_matching": ok_wb,
            "write_backs_wrong": bad_wb,
            "overlapping_sweeps": sweeps_clash,
            "goals": {
                "duplicate_documents": 0,
                "duplicate_customers": 0,
                "lost": 0,
                "write_backs_wrong": 0,
                "write_backs_matching": "= transferred",
                "kills": f">= {MIN_KILLS}",
                "overlapping_sweeps": 0,
            },
            "met": all(goals.values()),
            "goals_met": goals,
        }
    )


def kill_pause(history: list[tuple[float, int]], left: int, kills_left: int) -> float:
    """Seconds to the next kill: the kills spread over the time the backlog still needs."""
    if kills_left <= 0:
        return 1.0
    (t0, d0), (t1, d1) = history[0], history[-1]
    rate = (d1 - d0) / (t1 - t0) if t1 > t0 and d1 > d0 else 0.0
    if rate <= 0:
        return KILL_EVERY_S * 3
    return min(max(left / rate / kills_left, KILL_EVERY_S), 3.0)


async def main() -> None:
    visma = SandboxProcess("visma", "--seed", "demo", "--rate-limit", "0")
    starweb = SandboxProcess("starweb", "--seed", "demo", "--rate-limit", "1000000", "--shops", str(SHOPS))
    try:
        await run(visma, starweb)
    finally:
        await close_shop_clients()
        visma.stop()
        starweb.stop()


if __name__ == "__main__":
    asyncio.run(main())
