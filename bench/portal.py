"""Portal pages at scale: the order list (plain, filtered, searched, a deep page) and an order page
with 100,000 transfers over 50 merchants (SQLite). Server time p50/p95 per page through the ASGI
app (no network), and SQL queries per page at 10,000 and at 100,000 transfers (goal: the same).

    python bench/portal.py            # prints a table, then one JSON line
"""

from __future__ import annotations

import json
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import event, insert

from shopbridge.store import open_store
from shopbridge.store.schema import Attempt, Transfer
from shopbridge.web.portal import PortalConfig, create_portal
from shopbridge.web.portal.security import hash_password

TENANTS = 50
STATES = ["transferred"] * 8 + ["waiting_for_fix", "needs_review"]
GOAL_P95_MS = 150.0


def fill(store, total: int, start: int = 0) -> None:
    conns = [c.id for c in store.connections.all()]
    rng = random.Random(start)
    now = datetime.now(UTC)
    rows = []
    for i in range(start, start + total):
        cid = conns[i % len(conns)]
        state = rng.choice(STATES)
        rows.append(
            {
                "connection_id": cid,
                "entity_type": "order",
                "starweb_order_id": str(i),
                "starweb_order_number": str(i),
                "state": state,
                "attempts": 1,
                "warnings": [],
                "customer_name": f"Kund {i % 997}",
                "customer_email": f"kund{i % 997}@example.test",
                "ordered_at": now - timedelta(minutes=i),
                "total_amount": rng.randint(100, 99999) / 100,
                "currency": "SEK",
                "last_error": None
                if state == "transferred"
                else f"article SW-{i % 50} does not exist in Visma",
                "visma_document_number": str(100000 + i) if state == "transferred" else None,
                "created_at": now,
                "updated_at": now,
            }
        )
    with store.session() as s:
        for chunk in range(0, len(rows), 5000):
            s.execute(insert(Transfer), rows[chunk : chunk + 5000])


def main() -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    from fastapi.testclient import TestClient

    from portal_env import csrf_of

    data = Path(tempfile.mkdtemp(prefix="bench-portal-"))
    store = open_store(data_dir=data)
    pw = hash_password("bench-password-1")
    for n in range(TENANTS):
        m = store.tenants.create("merchant", f"Merchant {n}")
        c = store.connections.create(f"shop-{n}")
        store.tenants.assign(m.id, c.id)
        if n == 0:
            store.users.create(m.id, "m0@example.test", password_hash=pw)
    app = create_portal(store, config=PortalConfig())
    client = TestClient(app)
    token = csrf_of(client.get("/login").text)
    client.post(
        "/login", data={"email": "m0@example.test", "password": "bench-password-1", "csrf_token": token}
    )
    queries = {"n": 0}

    @event.listens_for(store.engine, "before_cursor_execute")
    def count(*_a: object) -> None:
        queries["n"] += 1

    def pages() -> dict[str, str]:
        conn_id = store.connections.find("shop-0").id
        with store.session() as s:
            from sqlalchemy import select

            tid = s.scalar(
                select(Transfer.id).where(Transfer.connection_id == conn_id).order_by(Transfer.id.desc())
            )
            for k in range(3):
                s.add(
                    Attempt(
                        transfer_id=tid, outcome="transferred", request={"order": "x"}, response={"id": k}
                    )
                )
            deep = s.scalar(
                select(Transfer.id).where(Transfer.connection_id == conn_id).order_by(Transfer.id).offset(20)
            )
        return {
            "order list": "/orders",
            "filtered (state)": "/orders?state=waiting_for_fix",
            "search (customer)": "/orders?q=Kund%2012",
            "deep page": f"/orders?before={deep}",
            "order page": f"/orders/{tid}",
        }

    def measure(rounds: int) -> dict[str, tuple[float, float, int]]:
        out = {}
        for name, url in pages().items():
            times, counts = [], []
            for _ in range(rounds):
                queries["n"] = 0
                started = time.perf_counter()
                r = client.get(url)
                times.append((time.perf_counter() - started) * 1000)
                counts.append(queries["n"])
                assert r.status_code == 200, (url, r.status_code)
            times.sort()
            out[name] = (statistics.median(times), times[int(len(times) * 0.95) - 1], max(counts))
        return out

    fill(store, 10_000)
    small = measure(10)
    fill(store, 90_000, start=10_000)
    large = measure(40)
    print(f"{'page':<20} {'p50 ms':>8} {'p95 ms':>8} {'queries@10k':>12} {'queries@100k':>13}")
    for name, (p50, p95, q) in large.items():
        print(f"{name:<20} {p50:>8.1f} {p95:>8.1f} {small[name][2]:>12} {q:>13}")
    worst = max(p95 for _p50, p95, _q in large.values())
    constant = all(small[k][2] == large[k][2] for k in large)
    print(
        json.dumps(
            {
                "bench": "portal",
                "transfers": 100_000,
                "tenants": TENANTS,
                "pages": {
                    k: {"p50_ms": round(v[0], 1), "p95_ms": round(v[1], 1), "queries": v[2]}
                    for k, v in large.items()
                },
                "worst_p95_ms": round(worst, 1),
                "goal_p95_ms": GOAL_P95_MS,
                "p95_ok": worst <= GOAL_P95_MS,
                "queries_constant": constant,
                "goal_queries": "same at 10k and 100k transfers",
            }
        )
    )


if __name__ == "__main__":
    main()
