"""Schemathesis against the Starweb sandbox: responses conform to the published spec, no 5xx."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from shopbridge.sandbox.common import load_spec, start_in_thread
from shopbridge.sandbox.common.defaults import STARWEB_CLIENT_ID, STARWEB_CLIENT_SECRET
from shopbridge.sandbox.settings import RateLimitSettings, SandboxSettings
from shopbridge.sandbox.starweb.app import create_app

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]

# Implemented GET operations (spec templates).
GETS = [
    "/shop",
    "/currencies",
    "/currencies/{currencyCode}",
    "/customer-tags",
    "/customers",
    "/customers/{customerId}",
    "/customers/{customerId}/addresses",
    "/customers/{customerId}/addresses/{addressType}",
    "/customers/{customerId}/external-services",
    "/customers/{customerId}/tags",
    "/orders",
    "/orders/{orderId}",
    "/orders/{orderId}/addresses",
    "/orders/{orderId}/addresses/{addressType}",
    "/orders/{orderId}/comments",
    "/orders/{orderId}/comments/{commentId}",
    "/orders/{orderId}/external-services",
    "/orders/{orderId}/external-services/{serviceName}",
    "/orders/{orderId}/items",
    "/orders/{orderId}/items/{orderItemId}",
    "/order-statuses",
    "/order-statuses/{orderStatusId}",
    "/payment-methods",
    "/payment-methods/{paymentMethodId}",
    "/pricelists",
    "/pricelists/{pricelistId}",
    "/vat-rates",
    "/vat-rates/{countryCode}",
    "/product-attributes",
    "/product-attributes/{attributeId}",
    "/product-attributes/{attributeId}/values",
    "/product-attributes/{attributeId}/values/{attributeValueId}",
    "/product-units",
    "/product-units/{unitId}",
    "/product-stock-statuses",
    "/product-stock-statuses/{stockStatusId}",
    "/products",
    "/products/{productId}",
    "/products/{productId}/variants",
    "/products/{productId}/variants/{variantId}",
    "/products/{productId}/vat-rates",
    "/products/{productId}/vat-rates/{countryCode}",
    "/products/{productId}/languages",
    "/products/{productId}/languages/{langCode}",
    "/products/{productId}/variants/{variantId}/prices",
    "/products/{productId}/variants/{variantId}/prices/{pricelistId}",
    "/products/{productId}/variants/{variantId}/stocks",
    "/products/{productId}/variants/{variantId}/stocks/{stockLocationId}",
    "/shipping-methods",
    "/shipping-methods/{shippingMethodId}",
    "/shipping-tracking-types",
    "/stock-locations",
    "/stock-locations/{stockLocationId}",
    "/web-hooks",
    "/web-hooks/{webHookId}",
]
POSTS = [
    "/customers",
    "/orders",
    "/orders/{orderId}/comments",
    "/orders/{orderId}/external-services",
    "/order-statuses",
    "/products/{productId}/variants/{variantId}/prices",
]


class Env:
    def __init__(self, url: str) -> None:
        self.base = url + "/api/v2"
        http = httpx.Client(base_url=self.base, timeout=20)
        token = http.post(
            "/token",
            data={
                "grant_type": "client_credentials",
                "client_id": STARWEB_CLIENT_ID,
                "client_secret": STARWEB_CLIENT_SECRET,
            },
        ).json()["access_token"]
        self.headers = {"Authorization": f"Bearer {token}"}
        order = http.get("/orders", headers=self.headers).json()["data"][0]["orderId"]
        http.post(
            f"/orders/{order}/external-services",
            headers=self.headers,
            json={"serviceName": "visma", "externalIdValue": "1001"},
        ).raise_for_status()
        comment = http.post(f"/orders/{order}/comments", headers=self.headers, json={"text": "Tack!"}).json()
        hook = http.post(
            "/web-hooks",
            headers=self.headers,
            json={"name": "never", "event": "shop-removed", "url": "http://127.0.0.1:9/x"},
        ).json()
        http.close()
        self.params = {
            "currencyCode": "SEK",
            "customerId": 1,
            "addressType": None,
            "orderId": order,
            "commentId": comment["data"]["commentId"],
            "serviceName": "visma",
            "orderItemId": 1,
            "orderStatusId": 1,
            "paymentMethodId": 1,
            "pricelistId": 1,
            "countryCode": "SE",
            "attributeId": 1,
            "attributeValueId": 1,
            "unitId": 1,
            "stockStatusId": 1,
            "productId": 1,
            "variantId": 1,
            "langCode": "sv",
            "stockLocationId": 1,
            "shippingMethodId": 1,
            "webHookId": hook["data"]["webHookId"],
        }


@pytest.fixture(scope="module")
def env() -> Iterator[Env]:
    cfg = SandboxSettings(
        client_id=STARWEB_CLIENT_ID,
        client_secret=STARWEB_CLIENT_SECRET,
        seed="demo",
        rate_limit=RateLimitSettings(limit=1_000_000, window_s=1.0),
    )
    srv = start_in_thread(create_app(cfg))
    try:
        yield Env(srv.url)
    finally:
        srv.stop()


@pytest.fixture(scope="module")
def schema() -> Any:
    return schemathesis.openapi.from_dict(copy.deepcopy(load_spec("starweb")))


def run(env: Env, operation: Any, fixed: bool, examples: int) -> None:
    names = [p.name for p in operation.path_parameters] if fixed else []
    path_params = {n: env.params[n] for n in names if env.params.get(n) is not None}
    strategy = operation.as_strategy(path_parameters=path_params or None)

    @settings(
        max_examples=examples,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=strategy)
    def check(case: Any) -> None:
        response = case.call(base_url=env.base, headers=env.headers)
        case.validate_response(response, checks=CHECKS, headers=env.headers)

    check()


@pytest.mark.parametrize("template", GETS)
def test_get_responses_conform(env: Env, schema: Any, template: str) -> None:
    operation = schema[template]["GET"]
    run(env, operation, fixed=True, examples=6)
    if operation.path_parameters and "404" in operation.definition.raw.get("responses", {}):
        run(env, operation, fixed=False, examples=4)  # random ids: 404s in the documented shape


@pytest.mark.parametrize("template", POSTS)
def test_post_responses_conform(env: Env, schema: Any, template: str) -> None:
    run(env, schema[template]["POST"], fixed=True, examples=10)
