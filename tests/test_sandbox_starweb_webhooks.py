"""Starweb sandbox web hooks: real deliveries to a tiny local receiver, retries keep the uuid."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from shopbridge.sandbox.common import start_in_thread
from shopbridge.sandbox.common.defaults import STARWEB_CLIENT_ID, STARWEB_CLIENT_SECRET
from shopbridge.sandbox.settings import RateLimitSettings, SandboxSettings
from shopbridge.sandbox.starweb.app import create_app

CREDS = {
    "grant_type": "client_credentials",
    "client_id": STARWEB_CLIENT_ID,
    "client_secret": STARWEB_CLIENT_SECRET,
}


class Receiver:
    """Answers 500 to the first delivery of every uuid, 200 afterwards; records everything."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with outer.lock:
                    seen = any(c["uuid"] == body["uuid"] for c in outer.calls)
                    outer.calls.append(body)
                self.send_response(200 if seen else 500)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook/secret-123"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def wait_for(self, predicate: Any, timeout: float = 30.0) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                calls = list(self.calls)
            if predicate(calls):
                return calls
            time.sleep(0.02)
        raise AssertionError(f"condition not met; calls: {self.calls}")

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def env() -> Iterator[tuple[httpx.Client, dict[str, str], Receiver]]:
    cfg = SandboxSettings(
        client_id=STARWEB_CLIENT_ID,
        client_secret=STARWEB_CLIENT_SECRET,
        seed="empty",
        rate_limit=RateLimitSettings(limit=100_000, window_s=1.0),
    )
    srv = start_in_thread(create_app(cfg, webhook_retry_interval_s=0.05))
    receiver = Receiver()
    http = httpx.Client(base_url=srv.url, timeout=10)
    token = http.post("/api/v2/token", data=CREDS).json()["access_token"]
    try:
        yield http, {"Authorization": f"Bearer {token}"}, receiver
    finally:
        http.close()
        receiver.close()
        srv.stop()


def test_order_hooks_are_delivered_and_retried_with_the_same_uuid(
    env: tuple[httpx.Client, dict[str, str], Receiver],
) -> None:
    http, auth, receiver = env
    for event in ("order-created", "order-status-changed"):
        r = http.post(
            "/api/v2/web-hooks", headers=auth, json={"name": event, "event": event, "url": receiver.url}
        )
        assert r.status_code == 201, r.text
    completed_only = {
        "name": "done",
        "event": "order-status-changed",
        "url": receiver.url + "?done",
        "statusId": 3,
    }
    assert http.post("/api/v2/web-hooks", headers=auth, json=completed_only).status_code == 201
    assert len(http.get("/api/v2/web-hooks", headers=auth).json()["data"]) == 3

    order = http.post(
        "/api/v2/orders",
        headers=auth,
        json={
            "onOrderStatusChangeSendEmail": False,
            "addresses": {"customerInvoice": {"firstName": "Anna", "lastName": "Berg", "countryCode": "SE"}},
            "items": [
                {"sku": "A-1", "description": "Ullfilt", "quantity": 1, "unitPrice": 100, "vatRate": 25}
            ],
        },
    ).json()["data"]
    oid = order["orderId"]
    assert http.patch(f"/api/v2/orders/{oid}", headers=auth, json={"statusId": 2}).status_code == 200

    calls = receiver.wait_for(
        lambda c: (
            sum(1 for x in c if x["eventId"] == "order-status-changed") >= 2
            and sum(1 for x in c if x["eventId"] == "order-created") >= 2
        )
    )
    created = [c for c in calls if c["eventId"] == "order-created"]
    assert created[0]["uuid"] == created[1]["uuid"]  # the retry after the 500 keeps the uuid
    assert created[0] == created[1]
    body = created[0]
    assert {
        "uuid",
        "eventId",
        "shopIdCode",
        "eventTimestamp",
        "orderId",
        "orderStatusId",
        "orderStatusIdCode",
        "totalAmount",
        "currencyCode",
    } <= set(body)
    assert body["orderId"] == oid and body["shopIdCode"] == "sandbox-shop" and body["totalAmount"] == 125
    assert body["orderStatusIdCode"] == "created" and body["currencyCode"] == "SEK"
    changed = [c for c in calls if c["eventId"] == "order-status-changed"]
    assert {c["orderStatusId"] for c in changed} == {2}  # the statusId=3 hook did not fire

    # the receiver saw the retry before the sandbox read its answer: wait for the log to say so
    deadline = time.monotonic() + 30
    while True:
        log = http.get("/_sandbox/starweb/webhook-deliveries", params={"event": "order-created"}).json()
        first = log["data"][0]
        if first["state"] != "pending" or time.monotonic() > deadline:
            break
        time.sleep(0.02)
    assert first["state"] == "delivered" and first["uuid"] == body["uuid"]
    statuses = [a.get("status") for a in first["attempts"]]
    assert statuses[-1] == 200 and 500 in statuses


def test_customer_and_product_hooks(env: tuple[httpx.Client, dict[str, str], Receiver]) -> None:
    http, auth, receiver = env
    for event in ("customer-created", "product-updated"):
        http.post(
            "/api/v2/web-hooks", headers=auth, json={"name": event, "event": event, "url": receiver.url}
        )
    cid = http.post("/api/v2/customers", headers=auth, json={"email": "hook@example.com"}).json()["data"][
        "customerId"
    ]
    product = http.post(
        "/api/v2/products",
        headers=auth,
        json={
            "languages": [{"langCode": "sv", "name": "Testprodukt"}],
            "variants": [{"sku": "HOOK-1", "prices": [{"pricelistId": 1, "priceExVat": 10}]}],
        },
    )
    assert product.status_code == 201, product.text
    pid = product.json()["data"]["productId"]
    assert (
        http.patch(f"/api/v2/products/{pid}", headers=auth, json={"visibility": "visible"}).status_code == 200
    )
    calls = receiver.wait_for(
        lambda c: any(x.get("customerId") == cid for x in c) and any(x.get("productId") == pid for x in c)
    )
    assert any(c["eventId"] == "customer-created" and c["customerId"] == cid for c in calls)
    assert any(c["eventId"] == "product-updated" and c["productId"] == pid for c in calls)
    bad = http.post(
        "/api/v2/web-hooks", headers=auth, json={"name": "x", "event": "nope", "url": receiver.url}
    )
    assert bad.status_code == 400
