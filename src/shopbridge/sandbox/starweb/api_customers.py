"""`/customers` endpoints, and the shop's customer tags (`/customer-tags`, `/customers/{id}/tags`).

Customer tags are set up in the shop's admin (the API only reads them); a customer carries any of them
(POST adds one by `tagId`: 400 for an unknown tag or one it has already, DELETE takes it off). Adding
or removing a tag changes the customer's `modifiedAt` and sends `customer-updated`.
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from .context import body_of, check_query, ctx, shop_of
from .customers import _address as parse_address
from .customers import create_customer, customer_out, get_customer, touch, update_customer
from .wire import (
    ApiError,
    collection,
    item,
    no_content,
    not_found,
    page_slice,
    paged,
    parse_include,
    parse_ts,
)

router = APIRouter()
AddressType = Literal["invoice", "delivery"]


@router.get("/customers")
async def list_customers(
    request: Request,
    page: int = Query(1, ge=1),
    sortOrder: str = Query("DESC"),
    createdSince: str | None = None,
    updatedSince: str | None = None,
    includeWithoutAccount: bool = False,
    include: str | None = None,
) -> Response:
    check_query(request)
    shop = shop_of(request)
    rows = list(shop.customers.values())
    if not includeWithoutAccount:
        rows = [c for c in rows if c.has_account]
    if createdSince:
        since = parse_ts(createdSince, "createdSince").timestamp()
        rows = [c for c in rows if c.created_ts >= since]
    if updatedSince:
        since = parse_ts(updatedSince, "updatedSince").timestamp()
        rows = [c for c in rows if c.modified_ts >= since]
    rows.sort(key=lambda c: c.id, reverse=sortOrder != "ASC")
    chunk, meta = page_slice(rows, page)
    includes = parse_include(include)
    return paged([customer_out(c, includes, shop.customer_tags) for c in chunk], meta)


@router.post("/customers")
async def post_customer(request: Request) -> Response:
    body = await body_of(request)
    shop = shop_of(request)
    customer = create_customer(shop, body)
    c = ctx(request)
    c.changed()
    c.hub.customer_event(shop, "customer-created", customer.id)
    return item(customer_out(customer, {"addresses"} if body.get("addresses") else set()), 201)


@router.get("/customers/{customerId}")
async def get_one(request: Request, customerId: int, include: str | None = None) -> Response:
    shop = shop_of(request)
    customer = get_customer(shop, customerId)
    return item(customer_out(customer, parse_include(include), shop.customer_tags))


@router.put("/customers/{customerId}")
@router.patch("/customers/{customerId}")
async def put_customer(request: Request, customerId: int) -> Response:
    body = await body_of(request)
    shop = shop_of(request)
    customer = get_customer(shop, customerId)
    update_customer(shop, customer, body, replace=request.method == "PUT")
    c = ctx(request)
    c.changed()
    c.hub.customer_event(shop, "customer-updated", customer.id)
    return item(customer_out(customer, set()))


@router.delete("/customers/{customerId}")
async def delete_customer(request: Request, customerId: int) -> Response:
    shop = shop_of(request)
    get_customer(shop, customerId)
    del shop.customers[customerId]
    c = ctx(request)
    c.changed()
    c.hub.customer_event(shop, "customer-deleted", customerId)
    return no_content()


@router.get("/customers/{customerId}/addresses")
async def list_addresses(request: Request, customerId: int) -> Response:
    return item(get_customer(shop_of(request), customerId).addresses)


@router.get("/customers/{customerId}/addresses/{addressType}")
async def get_address(request: Request, customerId: int, addressType: AddressType) -> Response:
    customer = get_customer(shop_of(request), customerId)
    if addressType not in customer.addresses:
        raise not_found("address")
    return item(customer.addresses[addressType])


@router.put("/customers/{customerId}/addresses/{addressType}")
@router.patch("/customers/{customerId}/addresses/{addressType}")
async def put_address(request: Request, customerId: int, addressType: AddressType) -> Response:
    body = await body_of(request)
    shop = shop_of(request)
    customer = get_customer(shop, customerId)
    new = parse_address(body)
    if request.method == "PATCH" and addressType in customer.addresses:
        customer.addresses[addressType].update(new)
    else:
        customer.addresses[addressType] = new
    touch(customer)
    c = ctx(request)
    c.changed()
    c.hub.customer_event(shop, "customer-updated", customer.id)
    return item(customer.addresses[addressType])


@router.delete("/customers/{customerId}/addresses/{addressType}")
async def delete_address(request: Request, customerId: int, addressType: AddressType) -> Response:
    shop = shop_of(request)
    customer = get_customer(shop, customerId)
    if addressType not in customer.addresses:
        raise not_found("address")
    if addressType == "invoice":
        raise ApiError(403, "forbidden", "The invoice address of a customer cannot be removed")
    del customer.addresses[addressType]
    touch(customer)
    c = ctx(request)
    c.changed()
    c.hub.customer_event(shop, "customer-updated", customer.id)
    return no_content()


@router.get("/customers/{customerId}/external-services")
async def list_customer_services(request: Request, customerId: int) -> Response:
    return collection(list(get_customer(shop_of(request), customerId).external_services.values()))


@router.get("/customers/{customerId}/external-services/{serviceName}")
async def get_customer_service(request: Request, customerId: int, serviceName: str) -> Response:
    service = get_customer(shop_of(request), customerId).external_services.get(serviceName)
    if service is None:
        raise not_found("external service")
    return item(service)


# --- tags ---------------------------------------------------------------------------------------


def _tag_out(shop: Any, tag_id: int) -> dict[str, Any]:
    return {"tagId": tag_id, "name": shop.customer_tags[tag_id]["name"]}


def _changed(request: Request, customer: Any) -> None:
    touch(customer)
    c = ctx(request)
    c.changed()
    c.hub.customer_event(shop_of(request), "customer-updated", customer.id)


@router.get("/customers/{customerId}/tags")
async def list_customer_tags(request: Request, customerId: int) -> Response:
    shop = shop_of(request)
    customer = get_customer(shop, customerId)
    return collection([_tag_out(shop, t) for t in customer.tags if t in shop.customer_tags])


@router.post("/customers/{customerId}/tags")
async def add_customer_tag(request: Request, customerId: int) -> Response:
    body = await body_of(request)
    shop = shop_of(request)
    customer = get_customer(shop, customerId)
    tag_id = body.get("tagId")
    if tag_id not in shop.customer_tags:
        raise ApiError(400, "validation_failed", f"Invalid tagId: {tag_id}")
    if tag_id in customer.tags:
        raise ApiError(400, "validation_failed", f"The customer already has tag {tag_id}")
    customer.tags.append(tag_id)
    _changed(request, customer)
    return item(_tag_out(shop, tag_id), 201)


@router.get("/customers/{customerId}/tags/{tagId}")
async def get_customer_tag(request: Request, customerId: int, tagId: int) -> Response:
    shop = shop_of(request)
    customer = get_customer(shop, customerId)
    if tagId not in customer.tags or tagId not in shop.customer_tags:
        raise not_found("customer tag")
    return item(_tag_out(shop, tagId))


@router.delete("/customers/{customerId}/tags/{tagId}")
async def remove_customer_tag(request: Request, customerId: int, tagId: int) -> Response:
    customer = get_customer(shop_of(request), customerId)
    if tagId not in customer.tags:
        raise not_found("customer tag")
    customer.tags.remove(tagId)
    _changed(request, customer)
    return no_content()


@router.get("/customer-tags")
async def list_tags(request: Request) -> Response:
    shop = shop_of(request)
    return collection([_tag_out(shop, t) for t in sorted(shop.customer_tags)])


@router.get("/customer-tags/{tagId}")
async def get_tag(request: Request, tagId: int) -> Response:
    shop = shop_of(request)
    if tagId not in shop.customer_tags:
        raise not_found("customer tag")
    return item(_tag_out(shop, tagId))
