"""Web hook delivery of the Starweb sandbox.

Events are POSTed as JSON to the hook's url from a background task (the API answer never waits).
Body: ``uuid`` (the same on every retry of one delivery), ``eventId`` (the event name, e.g.
"order-created"), ``shopIdCode``, ``eventTimestamp`` and ``orderId``, ``orderStatusId``,
``orderStatusIdCode`` (null for shop-specific statuses), ``totalAmount``, ``currencyCode`` for order
events, ``productId`` for product events, ``customerId`` for customer events.  A non-2xx answer
(or no answer) is retried `max_retries` times, `retry_interval_s` apart (Starweb: 10 times, 30 minutes).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections import deque
from typing import Any

import httpx

from .state import Order, ShopState
from .wire import dumps, fmt_ts, now

log = logging.getLogger(__name__)

DEFAULT_RETRY_INTERVAL_S = 30 * 60.0
DEFAULT_MAX_RETRIES = 10


class WebhookHub:
    """Sends web hooks for all shops of one sandbox app and keeps a log of the deliveries."""

    def __init__(
        self,
        retry_interval_s: float = DEFAULT_RETRY_INTERVAL_S,
        max_retries: int = DEFAULT_MAX_RETRIES,
        timeout_s: float = 5.0,
        log_size: int = 2000,
    ):
        self.retry_interval_s = retry_interval_s
        self.max_retries = max_retries
        self.timeout_s = timeout_s
        self.deliveries: dict[int, deque[dict[str, Any]]] = {}
        self._log_size = log_size
        self._tasks: set[asyncio.Task[None]] = set()
        self._client: httpx.AsyncClient | None = None

    # --- events -------------------------------------------------------------------------
    def order_event(self, shop: ShopState, event: str, order: Order) -> None:
        status = shop.order_statuses.get(order.data["statusId"], {})
        self.emit(
            shop,
            event,
            {
                "orderId": order.id,
                "orderStatusId": order.data["statusId"],
                "orderStatusIdCode": status.get("idCode"),
                "totalAmount": order.data.get("totalAmount"),
                "currencyCode": order.data.get("currencyCode"),
            },
            status_id=order.data["statusId"],
        )

    def product_event(self, shop: ShopState, event: str, product_id: int) -> None:
        self.emit(shop, event, {"productId": product_id})

    def customer_event(self, shop: ShopState, event: str, customer_id: int) -> None:
        self.emit(shop, event, {"customerId": customer_id})

    def emit(self, shop: ShopState, event: str, fields: dict[str, Any], status_id: int | None = None) -> None:
        """Queue one delivery per matching hook (call from the event loop)."""
        for hook in list(shop.webhooks.values()):
            if hook.get("event") != event:
                continue
            if event == "order-status-changed" and hook.get("statusId") and hook["statusId"] != status_id:
                continue
            body = {
                "uuid": str(uuid.uuid4()),
                "eventId": event,
                "shopIdCode": shop.shop.get("idCode", ""),
                "eventTimestamp": fmt_ts(now()),
                **fields,
            }
            record: dict[str, Any] = {
                "uuid": body["uuid"],
                "webHookId": hook["webHookId"],
                "event": event,
                "url": hook["url"],
                "body": body,
                "attempts": [],
                "state": "pending",
            }
            log_ = self.deliveries.setdefault(shop.shop_no, deque(maxlen=self._log_size))
            log_.append(record)
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                record["state"] = "not-sent"
                continue
            task = loop.create_task(self._deliver(record))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    # --- delivery -----------------------------------------------------------------------
    async def _deliver(self, record: dict[str, Any]) -> None:
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=self.timeout_s)
        payload = dumps(record["body"])
        headers = {"Content-Type": "application/json", "User-Agent": "Starweb-Webhooks (sandbox)"}
        for attempt in range(self.max_retries + 1):
            if attempt:
                await asyncio.sleep(self.retry_interval_s)
            outcome: dict[str, Any] = {"at": fmt_ts(now())}
            try:
                response = await self._client.post(record["url"], content=payload, headers=headers)
                outcome["status"] = response.status_code
                ok = 200 <= response.status_code < 300
            except httpx.HTTPError as exc:
                outcome["error"] = type(exc).__name__
                ok = False
            record["attempts"].append(outcome)
            if ok:
                record["state"] = "delivered"
                return
        record["state"] = "failed"
        log.info(
            "web hook %s to hook %s failed after %d attempts",
            record["event"],
            record["webHookId"],
            len(record["attempts"]),
        )

    async def aclose(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    def pending(self) -> int:
        return len(self._tasks)
