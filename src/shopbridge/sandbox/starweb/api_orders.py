"""`/orders` endpoints with items, addresses, comments and external services."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from .context import body_of, check_query, ctx, shop_of
from .customers import _address as parse_address
from .orders import draw_stock, get_order, item_out, make_item, new_order, order_out, touch, update_order
from .state import Order, ShopState
from .wire import (
    ApiError,
    bad_request,
    collection,
    fmt_ts,
    item,
    no_content,
    not_found,
    now,
    page_slice,
    paged,
    parse_include,
    parse_ts,
)

router = APIRouter()
OrderAddressType = Literal[
    "paymentMethodDelivery",
    "paymentMethodInvoice",
    "originalDelivery",
    "originalInvoice",
    "customerDelivery",
    "customerInvoice",
]


def _customer_name(order: Order) -> str:
    addr = order.addresses.get("customerInvoice") or order.addresses.get("originalInvoice") or {}
    return (
        (addr.get("companyName") or f"{addr.get('firstName', '')} {addr.get('lastName', '')}").strip().lower()
    )


SORT_KEYS: dict[str, Callable[[Order], Any]] = {
    "orderId": lambda o: o.id,
    "createdAt": lambda o: (o.created_ts, o.id),
    "modifiedAt": lambda o: (o.modified_ts, o.id),
    "customer": lambda o: (_customer_name(o), o.id),
    "paymentMethodName": lambda o: (o.data.get("paymentMethodName", ""), o.id),
    "shippingMethodName": lambda o: (o.data.get("shippingMethodName", ""), o.id),
    "totalAmount": lambda o: (o.data.get("totalAmount", 0), o.id),
    "status": lambda o: (o.data["statusId"], o.id),
    "read": lambda o: (bool(o.data.get("isRead")), o.id),
}


def _matches(order: Order, needle: str) -> bool:
    if needle in str(order.id) or needle in str(order.data.get("originalCustomerEmail", "")).lower():
        return True
    for addr in order.addresses.values():
        for key in ("companyName", "firstName", "lastName"):
            if needle in str(addr.get(key, "")).lower():
                return True
    return any(
        needle in i.get("sku", "").lower() or needle in i.get("description", "").lower()
        for i in order.items.values()
    )


def _changed(request: Request, shop: ShopState, order: Order, events: list[str]) -> None:
    c = ctx(request)
    c.changed()
    for event in events:
        c.hub.order_event(shop, event, order)


@router.get("/orders")
async def list_orders(
    request: Request,
    page: int = Query(1, ge=1),
    includeNonCompletePayments: bool = False,
    filterQuery: str | None = None,
    filterPaymentMethodId: int | None = None,
    filterShippingMethodId: int | None = None,
    ordersCreatedAfter: str | None = None,
    ordersCreatedBefore: str | None = None,
    statusFilter: int | None = Query(None, ge=1),
    sortBy: str = Query("orderId"),
    sortOrder: str = Query("DESC"),
    include: str | None = None,
) -> Response:
    check_query(request)
    shop = shop_of(request)
    after = parse_ts(ordersCreatedAfter, "ordersCreatedAfter").timestamp() if ordersCreatedAfter else None
    before = parse_ts(ordersCreatedBefore, "ordersCreatedBefore").timestamp() if ordersCreatedBefore else None
    needle = filterQuery.strip().lower() if filterQuery else ""
    rows: list[Order] = []
    for order in shop.orders.values():
        data = order.data
        if not includeNonCompletePayments and not data.get("isComplete"):
            continue
        if statusFilter is not None and data["statusId"] != statusFilter:
            continue
        if filterPaymentMethodId is not None and data.get("paymentMethodId") != filterPaymentMethodId:
            continue
        if filterShippingMethodId is not None and data.get("shippingMethodId") != filterShippingMethodId:
            continue
        if after is not None and order.created_ts <= after:
            continue
        if before is not None and order.created_ts >= before:
            continue
        if needle and not _matches(order, needle):
            continue
        rows.append(order)
    descending = sortOrder != "ASC"
    if sortBy == "orderId":
        if descending:
            rows.reverse()
    else:
        rows.sort(key=SORT_KEYS.get(sortBy, SORT_KEYS["orderId"]), reverse=descending)
    chunk, meta = page_slice(rows, page)
    includes = parse_include(include)
    return paged([order_out(shop, o, includes) for o in chunk], meta)


@router.post("/orders")
async def post_order(request: Request) -> Response:
    body = await body_of(request)
    shop = shop_of(request)
    order, guest = new_order(shop, body)
    if order.data.get("isComplete"):
        draw_stock(shop, order)
    c = ctx(request)
    if guest is not None:
        c.hub.customer_event(shop, "customer-created", guest.id)
    events = ["order-created"] + (["order-completed"] if order.data.get("isComplete") else [])
    _changed(request, shop, order, events)
    return item(order_out(shop, order, {"items", "addresses"}), 201)


@router.get("/orders/{orderId}")
async def get_one(request: Request, orderId: int, include: str | None = None) -> Response:
    shop = shop_of(request)
    return item(order_out(shop, get_order(shop, orderId), parse_include(include)))


@router.put("/orders/{orderId}")
@router.patch("/orders/{orderId}")
async def put_order(request: Request, orderId: int) -> Response:
    body = await body_of(request)
    shop = shop_of(request)
    order = get_order(shop, orderId)
    events = update_order(shop, order, body, replace=request.method == "PUT")
    if "order-completed" in events:
        draw_stock(shop, order)
    _changed(request, shop, order, events)
    return item(order_out(shop, order, set()))


@router.delete("/orders/{orderId}")
async def delete_one(request: Request, orderId: int) -> Response:
    shop = shop_of(request)
    order = get_order(shop, orderId)
    del shop.orders[orderId]
    _changed(request, shop, order, ["order-deleted"])
    return no_content()


# --- items --------------------------------------------------------------------------------


def _get_item(order: Order, item_id: int) -> dict[str, Any]:
    row = order.items.get(item_id)
    if row is None:
        raise not_found("order item")
    return row


@router.get("/orders/{orderId}/items")
async def list_items(request: Request, orderId: int) -> Response:
    order = get_order(shop_of(request), orderId)
    return collection([item_out(i) for i in order.items.values()])


@router.post("/orders/{orderId}/items")
async def post_item(request: Request, orderId: int) -> Response:
    body = await body_of(request)
    shop = shop_of(request)
    order = get_order(shop, orderId)
    item_id = max(order.items, default=0) + 1
    row = make_item(shop, body, item_id, order.data["currencyCode"], len(order.items))
    order.items[item_id] = row
    touch(shop, order)
    _changed(request, shop, order, ["order-updated"])
    return item(item_out(row), 201)


@router.get("/orders/{orderId}/items/{orderItemId}")
async def get_item(request: Request, orderId: int, orderItemId: int) -> Response:
    return item(item_out(_get_item(get_order(shop_of(request), orderId), orderItemId)))


@router.put("/orders/{orderId}/items/{orderItemId}")
@router.patch("/orders/{orderId}/items/{orderItemId}")
async def put_item(request: Request, orderId: int, orderItemId: int) -> Response:
    body = await body_of(request)
    shop = shop_of(request)
    order = get_order(shop, orderId)
    current = _get_item(order, orderItemId)
    row = make_item(
        shop, body, orderItemId, order.data["currencyCode"], current.get("sortIndex", 0), base=current
    )
    order.items[orderItemId] = row
    touch(shop, order)
    _changed(request, shop, order, ["order-updated"])
    return item(item_out(row))


@router.delete("/orders/{orderId}/items/{orderItemId}")
async def delete_item(request: Request, orderId: int, orderItemId: int) -> Response:
    shop = shop_of(request)
    order = get_order(shop, orderId)
    _get_item(order, orderItemId)
    del order.items[orderItemId]
    touch(shop, order)
    _changed(request, shop, order, ["order-updated"])
    return no_content()


# --- addresses ----------------------------------------------------------------------------


@router.get("/orders/{orderId}/addresses")
async def list_addresses(request: Request, orderId: int) -> Response:
    return item(get_order(shop_of(request), orderId).addresses)


@router.get("/orders/{orderId}/addresses/{addressType}")
async def get_address(request: Request, orderId: int, addressType: OrderAddressType) -> Response:
    order = get_order(shop_of(request), orderId)
    if addressType not in order.addresses:
        raise not_found("order address")
    return item(order.addresses[addressType])


@router.put("/orders/{orderId}/addresses/{addressType}")
@router.patch("/orders/{orderId}/addresses/{addressType}")
async def put_address(request: Request, orderId: int, addressType: OrderAddressType) -> Response:
    body = await body_of(request)
    shop = shop_of(request)
    order = get_order(shop, orderId)
    new = parse_address(body)
    if request.method == "PATCH" and addressType in order.addresses:
        order.addresses[addressType].update(new)
    else:
        order.addresses[addressType] = new
    touch(shop, order)
    _changed(request, shop, order, ["order-updated"])
    return item(order.addresses[addressType])


@router.delete("/orders/{orderId}/addresses/{addressType}")
async def delete_address(request: Request, orderId: int, addressType: OrderAddressType) -> Response:
    shop = shop_of(request)
    order = get_order(shop, orderId)
    if order.addresses.pop(addressType, None) is None:
        raise not_found("order address")
    touch(shop, order)
    _changed(request, shop, order, ["order-updated"])
    return no_content()


# --- comments -----------------------------------------------------------------------------


def _comment_apply(comment: dict[str, Any], body: dict[str, Any]) -> None:
    if "text" in body:
        comment["text"] = str(body["text"])
    if "from" in body:
        if body["from"] not in ("admin", "customer"):
            raise bad_request("from must be 'admin' or 'customer'")
        comment["from"] = body["from"]
    if "createdAt" in body:
        comment["createdAt"] = fmt_ts(parse_ts(str(body["createdAt"]), "createdAt"))


@router.get("/orders/{orderId}/comments")
async def list_comments(request: Request, orderId: int) -> Response:
    return collection(list(get_order(shop_of(request), orderId).comments.values()))


@router.post("/orders/{orderId}/comments")
async def post_comment(request: Request, orderId: int) -> Response:
    body = await body_of(request)
    shop = shop_of(request)
    order = get_order(shop, orderId)
    if not body.get("text"):
        raise bad_request("text is required")
    comment: dict[str, Any] = {
        "commentId": shop.next_id("comment"),
        "createdAt": fmt_ts(now()),
        "text": "",
        "from": "admin",
    }
    _comment_apply(comment, body)
    order.comments[comment["commentId"]] = comment
    touch(shop, order)
    _changed(request, shop, order, ["order-updated"])
    return item(comment, 201)


@router.get("/orders/{orderId}/comments/{commentId}")
async def get_comment(request: Request, orderId: int, commentId: int) -> Response:
    comment = get_order(shop_of(request), orderId).comments.get(commentId)
    if comment is None:
        raise not_found("order comment")
    return item(comment)


@router.put("/orders/{orderId}/comments/{commentId}")
@router.patch("/orders/{orderId}/comments/{commentId}")
async def put_comment(request: Request, orderId: int, commentId: int) -> Response:
    body = await body_of(request)
    shop = shop_of(request)
    order = get_order(shop, orderId)
    comment = order.comments.get(commentId)
    if comment is None:
        raise not_found("order comment")
    _comment_apply(comment, body)
    touch(shop, order)
    _changed(request, shop, order, ["order-updated"])
    return item(comment, 201)  # sic: the spec answers 201 here


@router.delete("/orders/{orderId}/comments/{commentId}")
async def delete_comment(request: Request, orderId: int, commentId: int) -> Response:
    shop = shop_of(request)
    order = get_order(shop, orderId)
    if order.comments.pop(commentId, None) is None:
        raise not_found("order comment")
    touch(shop, order)
    _changed(request, shop, order, ["order-updated"])
    return no_content()


# --- external services --------------------------------------------------------------------


def _service_out(service: dict[str, Any]) -> dict[str, Any]:
    return {
        "serviceName": service["serviceName"],
        "externalIdValue": service["externalIdValue"],
        "readOnly": bool(service.get("readOnly", False)),
    }


@router.get("/orders/{orderId}/external-services")
async def list_services(request: Request, orderId: int) -> Response:
    order = get_order(shop_of(request), orderId)
    return collection([_service_out(s) for s in order.external_services.values()])


@router.post("/orders/{orderId}/external-services")
async def post_service(request: Request, orderId: int) -> Response:
    body = await body_of(request)
    shop = shop_of(request)
    order = get_order(shop, orderId)
    name = body.get("serviceName")
    value = body.get("externalIdValue")
    if not name or value is None or value == "":
        raise bad_request("serviceName and externalIdValue are required")
    if name in order.external_services:
        raise bad_request(f"The service name {name} is already used for this order")
    order.external_services[name] = {"serviceName": name, "externalIdValue": str(value), "readOnly": False}
    touch(shop, order)
    _changed(request, shop, order, ["order-updated"])
    return item(_service_out(order.external_services[name]), 201)


def _get_service(order: Order, name: str) -> dict[str, Any]:
    service = order.external_services.get(name)
    if service is None:
        raise not_found("external service")
    return service


@router.get("/orders/{orderId}/external-services/{serviceName}")
async def get_service(request: Request, orderId: int, serviceName: str) -> Response:
    return item(_service_out(_get_service(get_order(shop_of(request), orderId), serviceName)))


@router.put("/orders/{orderId}/external-services/{serviceName}")
@router.patch("/orders/{orderId}/external-services/{serviceName}")
async def put_service(request: Request, orderId: int, serviceName: str) -> Response:
    body = await body_of(request)
    shop = shop_of(request)
    order = get_order(shop, orderId)
    service = _get_service(order, serviceName)
    if service.get("readOnly"):
        raise bad_request(f"The external service {serviceName} is read-only")
    new_name = body.get("serviceName", serviceName)
    if new_name != serviceName and new_name in order.external_services:
        raise bad_request(f"The service name {new_name} is already used for this order")
    if "externalIdValue" in body:
        service["externalIdValue"] = str(body["externalIdValue"])
    if new_name != serviceName:
        del order.external_services[serviceName]
        service["serviceName"] = new_name
        order.external_services[new_name] = service
    touch(shop, order)
    _changed(request, shop, order, ["order-updated"])
    return item(_service_out(service))


@router.delete("/orders/{orderId}/external-services/{serviceName}")
async def delete_service(request: Request, orderId: int, serviceName: str) -> Response:
    shop = shop_of(request)
    order = get_order(shop, orderId)
    service = _get_service(order, serviceName)
    if service.get("readOnly"):
        raise ApiError(400, "validation_failed", f"The external service {serviceName} is read-only")
    del order.external_services[serviceName]
    touch(shop, order)
    _changed(request, shop, order, ["order-updated"])
    return no_content()
