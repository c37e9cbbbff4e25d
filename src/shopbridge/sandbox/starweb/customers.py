"""Customer logic of the Starweb sandbox."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from .state import Customer, ShopState
from .wire import bad_request, fmt_ts, not_found, now, parse_ts

CUSTOMER_FIELDS = (
    "customerId",
    "createdAt",
    "type",
    "email",
    "nationalIdNo",
    "vatNo",
    "customInfo1",
    "customInfo2",
    "modifiedAt",
    "approved",
    "approvedAt",
    "pricelistId",
)
WRITABLE = (
    "type",
    "email",
    "nationalIdNo",
    "vatNo",
    "customInfo1",
    "customInfo2",
    "pricelistId",
    "createdAt",
)
ADDRESS_FIELDS = (
    "companyName",
    "firstName",
    "lastName",
    "careOf",
    "attention",
    "reference",
    "address",
    "postalCode",
    "city",
    "state",
    "countryCode",
    "phoneNo",
    "mobilePhoneNo",
)


def customer_out(
    customer: Customer, includes: set[str], tags: dict[int, dict[str, Any]] | None = None
) -> dict[str, Any]:
    """The wire shape; `tags` (the shop's customer tags) names the customer's tags for `include=tags`."""
    data = customer.data
    out: dict[str, Any] = {}
    for key in CUSTOMER_FIELDS:
        value = data.get(key)
        if key == "email" and not value:
            continue  # the spec's format "email" does not allow "": no address, no field
        if value is not None or key in ("approved", "pricelistId"):
            out[key] = value
    if "addresses" in includes:
        out["addresses"] = {"data": customer.addresses}
    if "externalServices" in includes:
        out["externalServices"] = {"data": list(customer.external_services.values())}
    if "tags" in includes:
        named = tags or {}
        out["tags"] = {"data": [{"tagId": t, "name": named[t]["name"]} for t in customer.tags if t in named]}
    return out


def _check(state: ShopState, body: dict[str, Any]) -> None:
    if "type" in body and body["type"] not in ("person", "company"):
        raise bad_request("type must be 'person' or 'company'")
    if body.get("pricelistId") is not None and body["pricelistId"] not in state.pricelists:
        raise bad_request(f"Invalid pricelistId: {body['pricelistId']}")
    if "createdAt" in body:
        parse_ts(str(body["createdAt"]), "createdAt")
    email = body.get("email")
    if email:
        for other in state.customers.values():
            if (
                other.data.get("email", "").lower() == str(email).lower()
                and other.has_account
                and other.data["customerId"] != body.get("_self")
            ):
                raise bad_request("A customer with this email address already exists")


def _address(raw: Any) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise bad_request("An address must be an object")
    return {k: raw[k] for k in ADDRESS_FIELDS if k in raw and raw[k] is not None}


def create_customer(state: ShopState, body: dict[str, Any], at: datetime | None = None) -> Customer:
    _check(state, body)
    at = at or now()
    cid = state.next_id("customer")
    stamp = fmt_ts(at)
    data: dict[str, Any] = {
        "customerId": cid,
        "createdAt": stamp,
        "type": "person",
        "email": "",
        "nationalIdNo": "",
        "vatNo": "",
        "customInfo1": "",
        "customInfo2": "",
        "modifiedAt": stamp,
        "approved": None,
        "pricelistId": None,
        "langCode": "sv",
    }
    for key in WRITABLE:
        if key in body:
            data[key] = body[key]
    if "createdAt" in body:
        data["createdAt"] = fmt_ts(parse_ts(str(body["createdAt"])))
    customer = Customer(
        data=data, created_ts=parse_ts(data["createdAt"]).timestamp(), modified_ts=at.timestamp()
    )
    addresses = body.get("addresses") or {}
    for kind in ("invoice", "delivery"):
        if addresses.get(kind):
            customer.addresses[kind] = _address(addresses[kind])
    state.customers[cid] = customer
    return customer


def update_customer(
    state: ShopState, customer: Customer, body: dict[str, Any], replace: bool = False
) -> None:
    _check(state, {**body, "_self": customer.id})
    data = customer.data
    for key in WRITABLE:
        if key in body:
            data[key] = fmt_ts(parse_ts(str(body[key]))) if key == "createdAt" else body[key]
    addresses = body.get("addresses")
    if isinstance(addresses, dict):
        if replace:
            customer.addresses = {}
        for kind in ("invoice", "delivery"):
            if addresses.get(kind) is not None:
                customer.addresses[kind] = _address(addresses[kind])
    touch(customer)


def touch(customer: Customer, at: datetime | None = None) -> None:
    at = at or now()
    customer.data["modifiedAt"] = fmt_ts(at)
    customer.modified_ts = at.timestamp()


def get_customer(state: ShopState, customer_id: int) -> Customer:
    customer = state.customers.get(customer_id)
    if customer is None:
        raise not_found("customer")
    return customer
