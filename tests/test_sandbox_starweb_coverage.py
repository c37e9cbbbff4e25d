"""The Starweb sandbox's newer operations over real HTTP: customer tags, variant volume prices, and the
validation classes (an empty email, page numbers outside the spec's bounds, ids that cannot exist,
numbers the order arithmetic cannot carry), plus persistence of tags and volume prices.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import httpx
import pytest

from sandbox_env import StarwebSandbox, starweb_sandbox
from shopbridge.sandbox.common import get_validator

SPEC = get_validator("starweb")
PRODUCT, VARIANT = 6, 18  # the demo's product 6 has volume prices in the master pricelist (1)


@pytest.fixture(scope="module")
def s() -> Iterator[StarwebSandbox]:
    with starweb_sandbox() as sandbox:
        yield sandbox


def conforms(resp: httpx.Response, method: str, template: str) -> dict:
    body = resp.json()
    problems = SPEC.validate_response(method, template, resp.status_code, body)
    assert not problems, [p.message for p in problems]
    return body


def refused(resp: httpx.Response, status: int = 400) -> str:
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert set(body) == {"error", "error_description"}
    return str(body["error_description"])


def test_customer_tags(s: StarwebSandbox) -> None:
    tags = conforms(s("GET", "/customer-tags"), "GET", "/customer-tags")["data"]
    assert [t["name"] for t in tags] == ["Stamkund", "Grossist", "Nyhetsbrev"]
    assert (
        conforms(s("GET", "/customer-tags/2"), "GET", "/customer-tags/{tagId}")["data"]["name"] == "Grossist"
    )
    refused(s("GET", "/customer-tags/99"), 404)
    customer = s.ok(s("GET", "/customers/5"))["data"]
    template = "/customers/{customerId}/tags"
    had = {t["tagId"] for t in conforms(s("GET", "/customers/5/tags"), "GET", template)["data"]}
    new = next(t["tagId"] for t in tags if t["tagId"] not in had)
    added = s("POST", "/customers/5/tags", json={"tagId": new})
    assert added.status_code == 201 and conforms(added, "POST", template)["data"]["tagId"] == new
    assert "already has tag" in refused(s("POST", "/customers/5/tags", json={"tagId": new}))
    assert "Invalid tagId" in refused(s("POST", "/customers/5/tags", json={"tagId": 42}))
    one = conforms(s("GET", f"/customers/5/tags/{new}"), "GET", template + "/{tagId}")["data"]
    assert one == {"tagId": new, "name": next(t["name"] for t in tags if t["tagId"] == new)}
    included = s.ok(s("GET", "/customers/5", params={"include": "tags"}))["data"]
    assert new in {t["tagId"] for t in included["tags"]["data"]}
    assert included["modifiedAt"] > customer["modifiedAt"]
    assert s("DELETE", f"/customers/5/tags/{new}").status_code == 204
    refused(s("GET", f"/customers/5/tags/{new}"), 404)
    refused(s("DELETE", f"/customers/5/tags/{new}"), 404)
    refused(s("GET", "/customers/999999/tags"), 404)


def test_variant_volume_prices(s: StarwebSandbox) -> None:
    base = f"/products/{PRODUCT}/variants/{VARIANT}/prices/1/volume"
    template = "/products/{productId}/variants/{variantId}/prices/{pricelistId}/volume"
    seeded = conforms(s("GET", base), "GET", template)["data"]
    assert [v["quantity"] for v in seeded] == [10, 50]
    price = s.ok(s("GET", f"/products/{PRODUCT}/variants/{VARIANT}/prices/1"))["data"]["priceExVat"]
    assert Decimal(str(seeded[0]["priceExVat"])) == (Decimal(str(price)) * Decimal("0.9")).quantize(
        Decimal("0.01")
    )
    created = s("POST", base, json={"quantity": 20, "priceExVat": 250})
    assert created.status_code == 201 and conforms(created, "POST", template)["data"]["quantity"] == 20
    assert "already a volume price" in refused(s("POST", base, json={"quantity": 20, "priceExVat": 1}))
    refused(s("POST", base, json={"quantity": 1, "priceExVat": 1}))  # the spec's minimum is 2
    refused(s("POST", base, json={"quantity": 2.5, "priceExVat": 1}))
    assert [v["quantity"] for v in s.ok(s("GET", base))["data"]] == [10, 20, 50]
    one = conforms(s("GET", f"{base}/20"), "GET", template + "/{quantity}")["data"]
    assert one == {"pricelistId": 1, "quantity": 20, "priceExVat": 250}
    patched = s.ok(s("PATCH", f"{base}/20", json={"quantity": 20, "priceExVat": 240}))["data"]
    assert patched["priceExVat"] == 240
    refused(s("PATCH", f"{base}/30", json={"quantity": 30, "priceExVat": 1}), 404)
    assert s.ok(s("PUT", f"{base}/30", json={"quantity": 30, "priceExVat": 230}))["data"]["quantity"] == 30
    assert s("DELETE", f"{base}/30").status_code == 204
    refused(s("GET", f"{base}/30"), 404)
    # no price in the EUR pricelist (2) for a fresh variant: add that first
    variant = s.ok(s("POST", f"/products/{PRODUCT}/variants", json={"sku": "VOL-TEST-1"}), 201)["data"]
    other = f"/products/{PRODUCT}/variants/{variant['variantId']}/prices/2/volume"
    assert "add that price first" in refused(s("POST", other, json={"quantity": 5, "priceExVat": 1}))
    assert s.ok(s("GET", other))["data"] == []
    # the volume prices go with the pricelist price
    assert s("DELETE", f"/products/{PRODUCT}/variants/{VARIANT}/prices/1").status_code == 204
    assert s.ok(s("GET", base))["data"] == []


def test_an_empty_email_is_refused(s: StarwebSandbox) -> None:
    before = s.ok(s("GET", "/customers", params={"includeWithoutAccount": "true"}))["meta"]["pagination"][
        "total"
    ]
    assert "email" in refused(s("POST", "/customers", json={"email": ""}))
    assert "email" in refused(s("PATCH", "/customers/1", json={"email": ""}))
    after = s.ok(s("GET", "/customers", params={"includeWithoutAccount": "true"}))["meta"]["pagination"][
        "total"
    ]
    assert after == before and s.ok(s("GET", "/customers/1"))["data"]["email"]


@pytest.mark.parametrize("path", ["/customers", "/orders", "/products"])
def test_page_numbers_outside_the_spec_are_refused(s: StarwebSandbox, path: str) -> None:
    for page in ("0", "-1", "2147483648", "99999999999"):
        assert "page" in refused(s("GET", path, params={"page": page}))
    last = s.ok(s("GET", path, params={"page": 2147483647}))
    assert last["data"] == [] and last["meta"]["pagination"]["current_page"] == 2147483647


def test_ids_that_cannot_exist_are_not_found(s: StarwebSandbox) -> None:
    for path in ("/products/abc", "/customers/1.5", "/orders/x/items", "/products/1/variants/y/prices"):
        refused(s("GET", path), 404)


def test_exchange_rates_that_break_the_arithmetic_change_nothing(s: StarwebSandbox) -> None:
    order = s.ok(s("GET", "/orders"))["data"][0]
    for rate in (0, -1, 2e-220, 1e9):
        assert "currencyExchangeRate" in refused(
            s("PATCH", f"/orders/{order['orderId']}", json={"currencyExchangeRate": rate})
        )
    again = s.ok(s("GET", f"/orders/{order['orderId']}"))["data"]
    assert again["currencyExchangeRate"] == order["currencyExchangeRate"]
    assert again["totalAmountInBaseCurrency"] == order["totalAmountInBaseCurrency"]
    assert s("PATCH", f"/orders/{order['orderId']}", json={}).status_code == 200


def test_tags_and_volume_prices_survive_a_restart(tmp_path: Path) -> None:
    state = tmp_path / "starweb.json"
    with starweb_sandbox(state_file=state) as s:
        s.ok(s("POST", "/customers/1/tags", json={"tagId": 2}), 201)
        s.ok(
            s(
                "POST",
                f"/products/{PRODUCT}/variants/{VARIANT}/prices/1/volume",
                json={"quantity": 7, "priceExVat": 9},
            ),
            201,
        )
    with starweb_sandbox(state_file=state) as s:
        assert 2 in {t["tagId"] for t in s.ok(s("GET", "/customers/1/tags"))["data"]}
        volume = s.ok(s("GET", f"/products/{PRODUCT}/variants/{VARIANT}/prices/1/volume/7"))["data"]
        assert volume["priceExVat"] == 9
