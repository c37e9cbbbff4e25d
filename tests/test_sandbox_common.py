"""Tests for shopbridge.sandbox.common: spec validation, rate limit, faults, admin router, runner, CLI.

The servers here are tiny FastAPI apps using `install_common` (not the real sandboxes), served by a
real uvicorn in a thread and called over HTTP with httpx.
"""

from __future__ import annotations

import math
import random
import threading
import time
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, HTTPException, Request
from typer.testing import CliRunner

from shopbridge.sandbox import cli as sandbox_cli
from shopbridge.sandbox.common import (
    ConnectionResetFault,
    FaultInjector,
    SlidingWindowLimiter,
    SpecValidator,
    free_port,
    get_runtime,
    get_validator,
    install_common,
    load_spec,
    start_in_thread,
    validate_or_raise,
    validated_json,
)
from shopbridge.sandbox.common import defaults as d
from shopbridge.sandbox.settings import FaultSettings, RateLimitSettings, SandboxSettings

TERMS_ID = "8f9a8f2e-2f55-4ad8-b1d4-1f4f1b51e8a3"
GOOD_CUSTOMER = {
    "Name": "Acme AB",
    "InvoiceCity": "Stockholm",
    "InvoicePostalCode": "111 22",
    "IsActive": True,
    "IsPrivatePerson": False,
    "TermsOfPaymentId": TERMS_ID,
}


# --------------------------------------------------------------------------- tiny apps


def visma_error(status: int, message: str) -> dict[str, Any]:
    return {"ErrorCode": 4000 if status == 400 else status, "DeveloperErrorMessage": message, "ErrorId": "e1"}


def visma_limited(retry_after: float) -> tuple[dict[str, Any], dict[str, str]]:
    secs = math.ceil(retry_after)
    msg = f"API calls quota exceeded! maximum admitted 600 per Minute. Try again in {secs} seconds."
    return {"ErrorCode": 4010, "DeveloperErrorMessage": msg, "ErrorId": "e2"}, {}


def visma_key(request: Request) -> str | None:
    # per client and per endpoint, like Visma
    rt = get_runtime(request)
    return f"{request.headers.get('authorization', 'anon')}|{rt.route_of(request.method, request.url.path)}"


def make_visma_app(settings: SandboxSettings) -> FastAPI:
    app = FastAPI()
    install_common(
        app,
        settings,
        service="visma",
        error_body=visma_error,
        rate_key=visma_key,
        limited_body=visma_limited,
    )
    created: list[Any] = []

    @app.post("/v2/customers", status_code=201)
    async def create_customer(request: Request) -> Any:
        body = await validated_json(request)
        created.append(body)
        return body

    @app.get("/v2/customers")
    async def list_customers() -> Any:
        return {"Meta": {"TotalNumberOfResults": len(created)}, "Data": created}

    @app.get("/v2/customers/{customer_id}")
    async def get_customer(customer_id: str) -> Any:
        raise HTTPException(404, f"Customer {customer_id} was not found")

    @app.get("/v2/typed")
    async def typed(page: int) -> Any:
        return {"page": page}

    @app.get("/v2/crash")
    async def crash() -> Any:
        raise RuntimeError("sandbox bug (expected in this test)")

    @app.post("/v2/echo-types")
    async def echo_types(request: Request) -> Any:
        body = await validated_json(request, "/customers", decimals=True)
        return {k: type(v).__name__ for k, v in body.items()}

    return app


def starweb_error(status: int, message: str) -> dict[str, Any]:
    return {
        "error": {400: "bad_request", 404: "not_found"}.get(status, f"http_{status}"),
        "error_description": message,
    }


def starweb_limited(retry_after: float) -> tuple[dict[str, Any], dict[str, str]]:
    secs = max(math.ceil(retry_after), 1)
    body = {"error": "too_many_requests", "error_description": f"Too many requests, retry in {secs} s"}
    return body, {"Retry-After": str(secs)}


def make_starweb_app(settings: SandboxSettings) -> FastAPI:
    app = FastAPI()
    install_common(
        app,
        settings,
        service="starweb",
        error_body=starweb_error,
        rate_key=lambda request: request.headers.get("authorization", "anon"),
        limited_body=starweb_limited,
    )

    @app.post("/api/v2/orders", status_code=201)
    async def create_order(request: Request) -> Any:
        body = await request.json()
        validate_or_raise(request, body, "/orders")
        return {"data": {"orderId": 1, **body}}

    @app.get("/api/v2/orders")
    async def list_orders(request: Request) -> Any:
        validate_or_raise(request, None, "/orders")
        return {"data": [], "meta": {"pagination": {"total": 0}}}

    return app


def settings_for(service: str, **faults: Any) -> SandboxSettings:
    limit = d.VISMA_RATE_LIMIT if service == "visma" else d.STARWEB_RATE_LIMIT
    return SandboxSettings(
        client_id="cid",
        client_secret="secret",
        seed="empty",
        rate_limit=RateLimitSettings(limit=limit, window_s=60.0),
        faults=FaultSettings(**faults),
    )


@pytest.fixture
def visma() -> Iterator[httpx.Client]:
    server = start_in_thread(make_visma_app(settings_for("visma")))
    try:
        with httpx.Client(base_url=server.url, timeout=10.0) as client:
            yield client
    finally:
        server.stop()


@pytest.fixture
def starweb() -> Iterator[httpx.Client]:
    server = start_in_thread(make_starweb_app(settings_for("starweb")))
    try:
        with httpx.Client(base_url=server.url, timeout=10.0) as client:
            yield client
    finally:
        server.stop()


# --------------------------------------------------------------------------- spec loading and validation


def test_load_spec_repairs_visma_label_paths() -> None:
    spec = load_spec("visma")
    paths = spec["paths"]
    assert "/articlelabels/{articlelabelid}" not in paths
    assert "/customerlabels/{customerlabelid}" not in paths
    assert {"get", "put", "delete"} <= set(paths["/articlelabels/{articleLabelId}"])
    assert {"get", "put", "delete"} <= set(paths["/customerlabels/{customerLabelId}"])
    assert load_spec("visma") is spec  # cached
    assert load_spec("starweb")["openapi"].startswith("3.0")
    with pytest.raises(ValueError):
        load_spec("fortnox")


def test_visma_customer_name_too_long_and_missing_required() -> None:
    v = get_validator("visma")
    violations = v.validate_body("POST", "/customers", {**GOOD_CUSTOMER, "Name": "N" * 60})
    assert [(x.field, x.kind) for x in violations] == [("Name", "maxLength")]
    assert violations[0].message == "Name: maximum length is 50, got 60"

    missing = {k: val for k, val in GOOD_CUSTOMER.items() if k != "InvoiceCity"}
    violations = v.validate_body("POST", "/v2/customers", missing)  # prefix is accepted too
    assert [(x.field, x.kind) for x in violations] == [("InvoiceCity", "required")]
    assert "InvoiceCity" in violations[0].message and "missing" in violations[0].message

    assert v.validate_body("POST", "/customers", GOOD_CUSTOMER) == []


def test_visma_types_nulls_formats_unknown_fields() -> None:
    v = get_validator("visma")
    # 3.1 type lists: null allowed where the spec says ["string", "null"]
    assert v.validate_body("POST", "/customers", {**GOOD_CUSTOMER, "GLN": None}) == []
    bad = v.validate_body(
        "POST", "/customers", {**GOOD_CUSTOMER, "IsActive": "yes", "TermsOfPaymentId": "nope"}
    )
    assert {(x.field, x.kind) for x in bad} == {("IsActive", "type"), ("TermsOfPaymentId", "format")}
    assert any(x.message == "IsActive: expected boolean, got string" for x in bad)
    # additionalProperties: false is enforced by default, and can be switched off
    unknown = v.validate_body("POST", "/customers", {**GOOD_CUSTOMER, "Nickname": "x"})
    assert [(x.field, x.kind) for x in unknown] == [("Nickname", "additionalProperties")]
    lenient = SpecValidator("visma", reject_unknown_fields=False)
    assert lenient.validate_body("POST", "/customers", {**GOOD_CUSTOMER, "Nickname": "x"}) == []
    # readOnly fields may be sent back (they are ignored), the body must be an object
    assert v.validate_body("POST", "/customers", {**GOOD_CUSTOMER, "Id": TERMS_ID}) == []
    assert v.validate_body("POST", "/customers", [1])[0].kind == "type"


def test_starweb_order_body_validation_and_nullable() -> None:
    v = get_validator("starweb")
    assert (
        v.validate_body("POST", "/orders", {"customerId": 5, "statusId": 1, "items": [{"sku": "A-1"}]}) == []
    )
    bad = v.validate_body("POST", "/orders", {"customerId": "five", "items": [{"sku": 1}]})
    assert [(x.field, x.kind) for x in bad] == [("customerId", "type"), ("items[0].sku", "type")]
    assert bad[1].message == "items[0].sku: expected string, got integer"
    # OpenAPI 3.0 `nullable: true`
    assert v.validate_body("PATCH", "/customers/{customerId}", {"pricelistId": None}) == []
    bad = v.validate_body("PATCH", "/customers/{customerId}", {"pricelistId": "x"})
    assert [(x.field, x.kind) for x in bad] == [("pricelistId", "type")]
    # anyOf with identical problems in every branch is reported plainly
    bad = v.validate_body("POST", "/pricelists", {"name": "x" * 31, "currencyCode": "SEK"})
    assert [x.message for x in bad] == ["name: maximum length is 30, got 31"]
    # a missing required body
    assert v.validate_body("POST", "/orders", None)[0].kind == "required"


def test_validate_query() -> None:
    v = get_validator("starweb")
    assert v.validate_query("GET", "/orders", {"page": "2", "sortOrder": "ASC", "x": "ignored"}) == []
    bad = v.validate_query(
        "GET", "/orders", {"page": "two", "sortOrder": "UP", "includeNonCompletePayments": "maybe"}
    )
    assert {(x.field, x.kind) for x in bad} == {
        ("page", "type"),
        ("sortOrder", "enum"),
        ("includeNonCompletePayments", "type"),
    }
    assert [x.kind for x in v.validate_query("GET", "/orders", {"page": "0"})] == ["minimum"]
    bad = get_validator("visma").validate_query("GET", "/customerinvoices", {"modifiedSinceUtc": "yesterday"})
    assert [x.kind for x in bad] == ["format"]


def test_match_path_and_response_schema() -> None:
    sw = get_validator("starweb")
    assert sw.match_path("PATCH", "/api/v2/orders/5") == ("/orders/{orderId}", {"orderId": "5"})
    assert sw.match_path("GET", "/shops/2/api/v2/orders/5/items") == (
        "/orders/{orderId}/items",
        {"orderId": "5"},
    )
    assert sw.match_path("GET", "/api/v2/no-such-thing") == (None, {})
    vi = get_validator("visma")
    assert vi.match_path("POST", "/v2/articles/batch")[0] == "/articles/batch"  # literal beats {articleId}
    assert vi.match_path("GET", "/v2/articles/abc") == ("/articles/{articleId}", {"articleId": "abc"})
    assert vi.match_path("GET", "/v2/accounttypes")[0] == "/accountTypes"  # ASP.NET ignores case
    assert vi.match_path("GET", "/v2/articlelabels/7") == (
        "/articlelabels/{articleLabelId}",
        {"articleLabelId": "7"},
    )
    schema = vi.response_schema("GET", "/customers/{customerId}", 200)
    assert schema == {"$ref": "#/components/schemas/CustomerApi"}
    assert (
        vi.validate_response("GET", "/customers/{customerId}", 200, {**GOOD_CUSTOMER, "Name": 5})[0].kind
        == "type"
    )


def test_violations_in_natural_order_and_decimals() -> None:
    v = get_validator("starweb")
    items = [{"sku": "ok"} for _ in range(12)]
    items[2]["sku"] = items[10]["sku"] = 5  # type: ignore[assignment]
    bad = v.validate_body("POST", "/orders", {"customerId": 1, "items": items})
    assert [x.field for x in bad] == ["items[2].sku", "items[10].sku"]
    # bodies parsed with parse_float=Decimal validate like floats
    body = {
        "customerId": 1,
        "items": [{"sku": "A", "unitPrice": Decimal("99.50"), "quantity": Decimal("2.0")}],
    }
    assert v.validate_body("POST", "/orders", body) == []
    assert v.validate_body("POST", "/orders", {"customerId": Decimal("1.5")})[0].kind == "type"


def _random_instance(schema: Any, doc: dict[str, Any], rng: random.Random, depth: int = 0) -> Any:
    """A random value shaped like `schema`, often slightly wrong (for the differential test)."""
    if not isinstance(schema, dict):
        return None
    if "$ref" in schema:
        target: Any = doc
        for part in schema["$ref"].partition("#")[2].lstrip("/").split("/"):
            target = target[part]
        return None if depth > 4 else _random_instance(target, doc, rng, depth + 1)
    for key in ("anyOf", "oneOf", "allOf"):
        if key in schema and rng.random() < 0.9:
            return _random_instance(rng.choice(schema[key]), doc, rng, depth + 1)
    if rng.random() < 0.05:
        return rng.choice([None, True, 0, 1.5, "s", [], {}, Decimal("2.0"), TERMS_ID])
    if "enum" in schema:
        return rng.choice([*schema["enum"], 99])
    kind = schema.get("type")
    kind = (
        rng.choice(kind)
        if isinstance(kind, list)
        else kind or ("object" if "properties" in schema else "string")
    )
    if kind == "object":
        out = {
            name: _random_instance(sub, doc, rng, depth + 1)
            for name, sub in schema.get("properties", {}).items()
            if (name in schema.get("required", []) and rng.random() < 0.97) or rng.random() < 0.3
        }
        if rng.random() < 0.05:
            out["Bogus"] = 1
        return out
    if kind == "array":
        return [
            _random_instance(schema.get("items", {}), doc, rng, depth + 1) for _ in range(rng.randint(0, 2))
        ]
    if kind == "string":
        fmt = schema.get("format")
        if fmt == "uuid":
            return rng.choice([TERMS_ID, "nope"])
        if fmt in ("date-time", "date"):
            return rng.choice(["2026-01-15", "2026-01-15T10:00:00Z", "yesterday"])
        top = schema.get("maxLength", 20)
        return "x" * rng.choice([0, 1, top, top + 1])
    if kind == "integer":
        return rng.choice([0, 1, -1, 2**31, schema.get("maximum", 5), 3.0, 2.5, True, Decimal("4")])
    if kind == "number":
        return rng.choice([0, 1.25, -3, Decimal("100.45"), schema.get("maximum", 1e9), True, "1.5"])
    if kind == "boolean":
        return rng.choice([True, False, 0, "true"])
    return None


@pytest.mark.parametrize("name", ["starweb", "visma"])
def test_fast_path_agrees_with_jsonschema(name: str) -> None:
    """The compiled pre-check must say "valid" exactly when jsonschema finds no error."""
    rng = random.Random(20260115)
    for strict in (True, False):
        v = SpecValidator(name, reject_unknown_fields=strict)
        checked = valid = 0
        for method, template in v.operations():
            compiled = v._body_validator(method, template)
            if compiled is None:
                continue
            assert compiled.fast is not None, f"no fast path for {method} {template}"
            for _ in range(4):
                x = _random_instance(compiled.validator.schema, v._docs["request"], rng)
                expected = not any(True for _ in compiled.validator.iter_errors(x))
                assert compiled.fast(x) == expected, (method, template, x)
                checked += 1
                valid += expected
        assert checked > 300 and 0.1 < valid / checked < 0.9  # both outcomes were exercised


# --------------------------------------------------------------------------- limiter and injector (unit)


def test_sliding_window_limiter_with_fake_clock() -> None:
    now = [100.0]
    lim = SlidingWindowLimiter(3, 10.0, clock=lambda: now[0])
    assert [lim.hit("a") for _ in range(3)] == [None, None, None]
    assert lim.hit("a") == pytest.approx(10.0)
    assert lim.hit("b") is None  # keys are independent
    now[0] += 4
    assert lim.hit("a") == pytest.approx(6.0)
    now[0] += 6.01
    assert lim.hit("a") is None
    assert lim.remaining("a") == 2
    lim.configure(limit=1)
    assert lim.hit("a") is not None
    lim.reset()
    assert lim.hit("a") is None
    lim.configure(limit=0)
    assert lim.hit("z") == pytest.approx(10.0)


def test_sliding_window_limiter_thread_safe() -> None:
    lim = SlidingWindowLimiter(500, 60.0)
    allowed: list[int] = []

    def worker() -> None:
        allowed.append(sum(1 for _ in range(200) if lim.hit("k") is None))

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(allowed) == 500


def test_fault_injector_reproducible_and_updatable() -> None:
    def run(seed: int) -> list[tuple[str | None, int]]:
        inj = FaultInjector(FaultSettings(seed=seed, error_rate=0.3, hang_rate=0.1, reset_rate=0.1))
        return [(dec.action, dec.status) for dec in (inj.decide("/v2/x") for _ in range(200))]

    first = run(7)
    assert first == run(7)
    assert {a for a, _ in first} == {None, "error", "hang", "reset"}
    assert {s for a, s in first if a == "error"} <= {500, 502, 503}

    settings = FaultSettings()
    inj = FaultInjector(settings)
    assert inj.decide("/x").action is None and not inj.active
    inj.update({"error_rate": 1, "paths": ["/orders"]})
    assert settings.error_rate == 1.0  # the same object is mutated
    assert inj.decide("/api/v2/orders/1").action == "error"
    assert inj.decide("/api/v2/products").action is None
    assert inj.token_ttl(3600) == 3600
    inj.update({"token_ttl_s": 2})
    assert inj.token_ttl(3600) == 2.0
    inj.update({}, replace=True)
    assert settings == FaultSettings()
    with pytest.raises(ValueError, match="unknown"):
        inj.update({"nope": 1})
    with pytest.raises(ValueError, match="between 0 and 1"):
        inj.update({"error_rate": 2})


async def test_reset_without_reachable_transport_raises() -> None:
    settings = settings_for("starweb", reset_rate=1.0)
    app = make_starweb_app(settings)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        with pytest.raises(ConnectionResetFault):
            await client.get("/api/v2/orders")


# --------------------------------------------------------------------------- over real HTTP


def test_http_validation_errors_use_api_error_body(visma: httpx.Client) -> None:
    r = visma.post("/v2/customers", json={**GOOD_CUSTOMER, "Name": "N" * 60})
    assert r.status_code == 400
    body = r.json()
    assert body["ErrorCode"] == 4000
    assert "Name: maximum length is 50, got 60" in body["DeveloperErrorMessage"]

    r = visma.post("/v2/customers", json={k: v for k, v in GOOD_CUSTOMER.items() if k != "Name"})
    assert r.status_code == 400 and "Name: required field is missing" in r.json()["DeveloperErrorMessage"]

    r = visma.post("/v2/customers", content=b"{not json", headers={"content-type": "application/json"})
    assert r.status_code == 400 and "not valid JSON" in r.json()["DeveloperErrorMessage"]

    assert visma.get("/v2/customers").json()["Data"] == []  # nothing stored
    r = visma.post("/v2/customers", json=GOOD_CUSTOMER)
    assert r.status_code == 201
    assert len(visma.get("/v2/customers").json()["Data"]) == 1

    # FastAPI's own errors and 404s come in the API's shape too
    r = visma.get("/v2/customers/42")
    assert r.status_code == 404 and r.json()["DeveloperErrorMessage"] == "Customer 42 was not found"
    assert visma.get("/v2/nowhere").json()["ErrorCode"] == 404
    r = visma.get("/v2/typed", params={"page": "abc"})
    assert r.status_code == 400 and r.json()["DeveloperErrorMessage"].startswith("page:")
    r = visma.get("/v2/crash")
    assert r.status_code == 500 and r.json()["ErrorCode"] == 500
    r = visma.post("/v2/echo-types", json={**GOOD_CUSTOMER, "DiscountPercentage": 0.125})
    assert r.status_code == 200 and r.json()["DiscountPercentage"] == "Decimal"


def test_http_starweb_order_validation(starweb: httpx.Client) -> None:
    r = starweb.post("/api/v2/orders", json={"customerId": "x", "items": [{"sku": 1}]})
    assert r.status_code == 400
    assert r.json()["error"] == "bad_request"
    assert "items[0].sku: expected string, got integer" in r.json()["error_description"]
    assert starweb.post("/api/v2/orders", json={"customerId": 1}).status_code == 201
    r = starweb.get("/api/v2/orders", params={"sortOrder": "sideways"})
    assert r.status_code == 400 and "sortOrder" in r.json()["error_description"]


def test_http_rate_limit_429_and_recovery(starweb: httpx.Client) -> None:
    r = starweb.post("/_sandbox/ratelimit", json={"limit": 3, "window_s": 0.5, "reset": True})
    assert r.json() == {"limit": 3, "window_s": 0.5, "enabled": True}
    assert [starweb.get("/api/v2/orders").status_code for _ in range(3)] == [200, 200, 200]
    r = starweb.get("/api/v2/orders")
    assert r.status_code == 429
    assert r.json()["error"] == "too_many_requests"
    retry_after = int(r.headers["Retry-After"])
    assert retry_after >= 1
    # another client key is not limited; admin routes never are
    assert starweb.get("/api/v2/orders", headers={"Authorization": "Bearer other"}).status_code == 200
    assert starweb.get("/_sandbox/health").status_code == 200
    time.sleep(retry_after)
    assert starweb.get("/api/v2/orders").status_code == 200
    stats = starweb.get("/_sandbox/stats").json()
    assert stats["rate_limited"] == 1 and stats["by_status"]["429"] == 1
    # switched off at run time
    starweb.post("/_sandbox/ratelimit", json={"limit": 1, "enabled": False})
    assert all(starweb.get("/api/v2/orders").status_code == 200 for _ in range(3))
    assert starweb.post("/_sandbox/ratelimit", json={"limit": "many"}).status_code == 400


def test_http_visma_429_body_per_endpoint(visma: httpx.Client) -> None:
    visma.post("/_sandbox/ratelimit", json={"limit": 2, "window_s": 30})
    assert [visma.get("/v2/customers").status_code for _ in range(2)] == [200, 200]
    r = visma.get("/v2/customers")
    assert r.status_code == 429
    body = r.json()
    assert body["ErrorCode"] == 4010
    assert body["DeveloperErrorMessage"].startswith(
        "API calls quota exceeded! maximum admitted 600 per Minute."
    )
    assert visma.get("/v2/customers/1").status_code == 404  # another endpoint has its own quota
    visma.post("/_sandbox/ratelimit/reset")
    assert visma.get("/v2/customers").status_code == 200


def test_http_faults_errors_resets_hangs_changed_at_run_time(visma: httpx.Client) -> None:
    r = visma.post("/_sandbox/faults", json={"error_rate": 1.0, "seed": 3})
    assert r.status_code == 200 and r.json()["error_rate"] == 1.0
    statuses = [visma.post("/v2/customers", json=GOOD_CUSTOMER).status_code for _ in range(6)]
    assert set(statuses) <= {500, 502, 503}
    r = visma.get("/v2/customers")
    assert r.status_code >= 500 and "sandbox fault" in r.json()["DeveloperErrorMessage"]

    visma.post("/_sandbox/faults", json={"error_rate": 0.0, "reset_rate": 1.0})
    with pytest.raises(httpx.TransportError):
        visma.get("/v2/customers")

    # admin routes are never faulted; PUT replaces everything with defaults
    assert visma.put("/_sandbox/faults", json={}).json() == {**FaultSettings().__dict__}
    assert visma.get("/v2/customers").json()["Data"] == []  # the failed POSTs stored nothing

    visma.post("/_sandbox/faults", json={"hang_rate": 1.0, "hang_s": 1.0})
    with pytest.raises(httpx.ReadTimeout):
        visma.get("/v2/customers", timeout=0.25)
    visma.post("/_sandbox/faults", json={"hang_s": 0.05})
    assert visma.get("/v2/customers").status_code == 200  # a hang is answered afterwards
    visma.post("/_sandbox/faults", json={"hang_rate": 0.0, "latency_ms": 1})
    assert visma.get("/v2/customers").status_code == 200

    r = visma.get("/_sandbox/faults").json()
    assert r["counts"]["error"] == 7 and r["counts"]["reset"] == 1 and r["counts"]["hang"] == 2
    assert visma.post("/_sandbox/faults", json={"bogus": 1}).status_code == 400
    assert visma.post("/_sandbox/faults", json={"reset_rate": 5}).status_code == 400


def test_http_stats_count_calls(visma: httpx.Client) -> None:
    for _ in range(3):
        visma.post("/v2/customers", json=GOOD_CUSTOMER)
    visma.post("/v2/customers", json={})
    visma.get("/v2/customers/abc")
    visma.get("/_sandbox/health")
    stats = visma.get("/_sandbox/stats").json()
    assert stats["total"] == 5
    assert stats["by_route"] == {"POST /customers": 4, "GET /customers/{customerId}": 1}
    assert stats["by_route_status"]["POST /customers"] == {"201": 3, "400": 1}
    assert stats["by_status"] == {"201": 3, "400": 1, "404": 1}
    visma.post("/_sandbox/stats/reset")
    assert visma.get("/_sandbox/stats").json()["total"] == 0
    health = visma.get("/_sandbox/health").json()
    assert health["status"] == "ok" and health["service"] == "visma"


def test_runtime_stats_and_token_ttl_in_process() -> None:
    settings = settings_for("visma")
    app = make_visma_app(settings)
    runtime = get_runtime(app)
    with start_in_thread(app) as server, httpx.Client(base_url=server.url) as client:
        client.get("/v2/customers")
        client.get("/v2/customers")
        assert runtime.stats.count("GET /customers") == 2
        assert runtime.stats.count(status=200) == 2
        assert runtime.token_ttl_s == settings.token_ttl_s
        client.post("/_sandbox/faults", json={"token_ttl_s": 5})
        assert runtime.token_ttl_s == 5.0
        # settings changed in process are picked up by the middleware
        settings.rate_limit.limit = 1
        runtime.limiter.reset()
        assert client.get("/v2/customers").status_code == 200
        assert client.get("/v2/customers").status_code == 429
    assert not server.thread.is_alive()


def test_start_in_thread_and_free_port() -> None:
    port = free_port()
    assert 0 < port < 65536
    app = FastAPI()

    @app.get("/ping")
    async def ping() -> dict[str, str]:
        return {"pong": "yes"}

    server = start_in_thread(app)
    assert server.url == f"http://127.0.0.1:{server.port}"
    assert httpx.get(server.url + "/ping").json() == {"pong": "yes"}
    server.stop()
    assert not server.thread.is_alive()
    with pytest.raises(httpx.ConnectError):
        httpx.get(server.url + "/ping")
    server.stop()  # idempotent


def test_install_common_twice_is_refused() -> None:
    app = make_visma_app(settings_for("visma"))
    with pytest.raises(RuntimeError):
        install_common(
            app,
            settings_for("visma"),
            service="visma",
            error_body=visma_error,
            rate_key=visma_key,
            limited_body=visma_limited,
        )


# --------------------------------------------------------------------------- CLI


def test_cli_builds_settings_and_serves(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: dict[str, Any] = {}

    def fake_create_app(service: str, settings: SandboxSettings) -> str:
        seen["service"], seen["settings"] = service, settings
        return "APP"

    def fake_serve(app: Any, host: str, port: int, *, banner: str | None = None) -> None:
        seen.update(app=app, host=host, port=port, banner=banner)

    monkeypatch.setattr(sandbox_cli, "_create_app", fake_create_app)
    monkeypatch.setattr("shopbridge.sandbox.common.runner.serve", fake_serve)
    runner = CliRunner()

    result = runner.invoke(
        sandbox_cli.sandbox_app, ["starweb", "--port", "9001", "--shops", "2", "--error-rate", "0.1"]
    )
    assert result.exit_code == 0, result.output
    s: SandboxSettings = seen["settings"]
    assert seen["service"] == "starweb" and seen["app"] == "APP" and seen["port"] == 9001
    assert (s.client_id, s.client_secret) == (d.STARWEB_CLIENT_ID, d.STARWEB_CLIENT_SECRET)
    assert (s.rate_limit.limit, s.rate_limit.window_s, s.shops, s.faults.error_rate) == (300, 60.0, 2, 0.1)
    assert "http://127.0.0.1:9001/api/v2" in seen["banner"] and d.STARWEB_CLIENT_SECRET in seen["banner"]

    result = runner.invoke(
        sandbox_cli.sandbox_app,
        ["visma", "--port", "9002", "--client-secret", "hush", "--rate-limit", "10", "--rate-window", "2"],
    )
    assert result.exit_code == 0, result.output
    s = seen["settings"]
    assert seen["service"] == "visma" and s.client_id == d.VISMA_CLIENT_ID and s.client_secret == "hush"
    assert (s.rate_limit.limit, s.rate_limit.window_s) == (10, 2.0)
    assert "http://127.0.0.1:9002/v2" in seen["banner"] and "/connect/token" in seen["banner"]
    assert "hush" not in seen["banner"]

    result = runner.invoke(sandbox_cli.sandbox_app, ["visma", "--error-rate", "1.5"])
    assert result.exit_code != 0
    result = runner.invoke(sandbox_cli.sandbox_app, ["visma", "--seed", "lots"])
    assert result.exit_code != 0
