"""The hook specifications partners implement (pluggy project name "shopbridge").

A plugin is a module (or any object) with functions decorated with `shopbridge.plugins.hookimpl` and
named after one of the specs below. Every argument is passed by keyword and an implementation may
accept only the ones it needs. Each hook receives the body about to be written and may change it in
place (return None) or return a new dict that replaces it; the next plugin sees the result. An
implementation may be a coroutine function. A plugin that raises fails only the order (or product, or
status event) it was called for; the error names the plugin.

The declarative mappings from the connection settings run first (`tryfirst`), code plugins after.
"""

from __future__ import annotations

from typing import Any

import pluggy

PROJECT = "shopbridge"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def shopbridge_order_document(
    document: dict[str, Any], order: Any, wire: dict[str, Any], kind: str, settings: Any
) -> dict[str, Any] | None:
    """The Visma document body (invoice draft or order) for one Starweb order, before it is sent.

    `order` is the neutral `domain.models.Order`, `wire` the raw Starweb order (with `items`,
    `addresses`, `customer`), `kind` "invoice_draft", "order" or "invoice" (a draft, booked right after).
    The order reference field (`settings.reference_field`) must stay as it is: it makes the transfer
    exactly-once.
    """


@hookspec
def shopbridge_customer_body(
    body: dict[str, Any], customer: Any, order: Any, wire: dict[str, Any] | None, settings: Any
) -> dict[str, Any] | None:
    """A new Visma customer body (`POST /v2/customers`), before it is created.

    `customer` is the neutral `domain.models.Customer`, `order` the order that brought it.
    """


@hookspec
def shopbridge_article_body(
    body: dict[str, Any], product: dict[str, Any] | None, line: Any, settings: Any
) -> dict[str, Any] | None:
    """A Visma article body (`POST`/`PUT /v2/articles`), before it is written.

    `product` is the Starweb product (wire JSON) when the article comes from the catalogue, `line`
    the `domain.models.OrderLine` when it is created for an order line (`missing_article=create`).
    """


@hookspec
def shopbridge_product_body(
    body: dict[str, Any], article: dict[str, Any] | None, product: dict[str, Any] | None, settings: Any
) -> dict[str, Any] | None:
    """A Starweb product body, before it is written to the shop.

    `article` is the Visma article it comes from (wire JSON), `product` the shop's current product
    when it exists (None for a create).
    """


@hookspec
def shopbridge_status_update(
    update: dict[str, Any], event: str, order_id: str, details: dict[str, Any], settings: Any
) -> dict[str, Any] | None:
    """The Starweb order change (`PATCH /orders/{id}` fields) for one status event, before it is sent.

    `event` is delivered, invoiced, paid or cancelled; `update` holds `statusId`,
    `onOrderStatusChangeSendEmail`, `onOrderStatusChangeProcessPayment` and, for delivered, the
    tracking fields. Setting `statusId` to None ignores the event.
    """
