"""Per-app context of the Starweb sandbox and small request helpers shared by the routers."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from fastapi import Request

from shopbridge.sandbox.common import validate_or_raise, validated_json
from shopbridge.sandbox.settings import SandboxSettings

from .persist import Persister
from .state import ShopState
from .webhooks import WebhookHub
from .wire import ApiError, bad_request


@dataclass
class StarwebContext:
    """Everything the routes need: the shops, the web hook hub and the persister."""

    settings: SandboxSettings
    shops: dict[int, ShopState]
    hub: WebhookHub
    persister: Persister

    def changed(self) -> None:
        self.persister.mark_dirty()


def ctx(request: Request) -> StarwebContext:
    return request.app.state.starweb


def shop_of(request: Request) -> ShopState:
    return request.state.shop


def bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def bind_shop(shop_no: int):
    """Dependency that selects shop `shop_no` for the request."""

    async def dependency(request: Request) -> None:
        request.state.shop = ctx(request).shops[shop_no]

    return dependency


async def bind_shop_in_path(request: Request, shop_no: int) -> None:
    """Dependency that selects the shop named by the path (`/shops/{shop_no}/api/v2/...`); 404 when
    there is no such shop. One set of routes serves every shop, so matching a request does not grow
    with the number of shops."""
    shop = ctx(request).shops.get(shop_no)
    if shop is None:
        raise ApiError(404, "not_found", f"No shop {shop_no}")
    request.state.shop = shop


async def require_token(request: Request) -> None:
    """401 (Starweb's error body) unless the request carries a live Bearer token of its shop."""
    shop = shop_of(request)
    token = bearer_token(request)
    if token is None:
        raise ApiError(
            401,
            "access_denied",
            "Missing access token: send 'Authorization: Bearer <token>'",
            {"WWW-Authenticate": "Bearer"},
        )
    expiry = shop.tokens.get(token)
    if expiry is None:
        raise ApiError(
            401,
            "access_denied",
            "The access token is invalid",
            {"WWW-Authenticate": 'Bearer error="invalid_token"'},
        )
    if expiry <= time.time():
        shop.tokens.pop(token, None)
        raise ApiError(
            401,
            "access_denied",
            "The access token has expired",
            {"WWW-Authenticate": 'Bearer error="invalid_token"'},
        )


async def body_of(request: Request, template: str | None = None) -> dict[str, Any]:
    """The JSON object body, validated against the spec (400 with Starweb's error body when not)."""
    body = await validated_json(request, template)
    if not isinstance(body, dict):
        raise bad_request("The request body must be a JSON object")
    return body


def check_query(request: Request, template: str | None = None) -> None:
    """Validate the declared query parameters of a GET against the spec."""
    validate_or_raise(request, None, template)
