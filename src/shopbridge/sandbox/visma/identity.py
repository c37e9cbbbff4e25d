"""Imitation of Visma's identity server (identity.vismaonline.com): authorize, token, revocation.

* `GET /connect/authorize` auto-approves the sandbox test user and 302-redirects to `redirect_uri`
  with `code`, `scope` and the caller's `state`. Loopback redirect URIs (http://127.0.0.1:*,
  http://localhost:*, http://[::1]:*) are accepted by default; others must be registered through
  `POST /_sandbox/visma/identity`. Errors a client can be told about are redirected
  (`error=invalid_scope`, `unsupported_response_type`, `access_denied`, `invalid_request`); an unknown
  client or a bad redirect URI gets an error page (400), like IdentityServer.
* `POST /connect/token` (HTTP Basic client auth, or client_id/client_secret in the form):
  `authorization_code` (single-use code, valid 5 minutes, redirect_uri must match) and
  `refresh_token` (rotating: every refresh returns a new refresh token and kills the old one).
  Errors are `{"error": "..."}` with 400.
* `POST /connect/revocation` revokes an access or refresh token (and the tokens of the same grant).
"""

from __future__ import annotations

import base64
import html
import secrets
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, unquote_plus, urlencode, urlsplit, urlunsplit

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from shopbridge.sandbox.settings import SandboxSettings

from .state import VismaState

CODE_TTL_S = 300.0
REQUIRED_SCOPES = ("ea:api", "offline_access")
KNOWN_SCOPES = frozenset(
    {
        "ea:api",
        "offline_access",
        "ea:sales",
        "ea:sales_readonly",
        "ea:accounting",
        "ea:accounting_readonly",
        "ea:purchase",
        "ea:purchase_readonly",
        "vls:api",
        "openid",
        "profile",
        "email",
    }
)
SANDBOX_USER = "sandbox.user@example.com"
_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
_LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


@dataclass
class IdentityConfig:
    """Run-time identity server behaviour (admin-settable)."""

    allow_loopback: bool = True
    redirect_uris: list[str] = field(default_factory=list)
    deny: bool = False  # the "user" refuses consent: redirect with error=access_denied
    user: str = SANDBOX_USER


class TokenService:
    """Issues and checks codes and tokens; state lives in `VismaState.tokens` (persisted)."""

    def __init__(self, state: VismaState, settings: SandboxSettings, token_ttl: Any) -> None:
        self.state = state
        self.settings = settings
        self.token_ttl = token_ttl  # callable -> seconds for a newly issued access token
        self.config = IdentityConfig()

    # ---- clients -------------------------------------------------------------------------------
    def client_ok(self, client_id: str | None, secret: str | None) -> bool:
        return (
            client_id is not None
            and secret is not None
            and secrets.compare_digest(client_id, self.settings.client_id)
            and secrets.compare_digest(secret, self.settings.client_secret)
        )

    def redirect_allowed(self, uri: str) -> bool:
        if uri in self.config.redirect_uris:
            return True
        try:
            parts = urlsplit(uri)
        except ValueError:
            return False
        host = (parts.hostname or "").lower()
        return self.config.allow_loopback and parts.scheme == "http" and host in _LOOPBACK_HOSTS

    # ---- codes and tokens ------------------------------------------------------------------------
    def issue_code(self, client_id: str, redirect_uri: str, scope: str) -> str:
        now = self.state.clock.epoch()
        codes = self.state.tokens.codes
        for stale in [c for c, v in codes.items() if v["expires_at"] <= now]:
            del codes[stale]
        code = secrets.token_urlsafe(32)
        codes[code] = {
            "client_id": client_id,
            "redirect_uri": redirect_uri,
            "scope": scope,
            "expires_at": now + CODE_TTL_S,
            "user": self.config.user,
        }
        self.state.touch()
        return code

    def issue_tokens(
        self, client_id: str, scope: str, user: str, grant_id: str | None = None
    ) -> dict[str, Any]:
        now = self.state.clock.epoch()
        ttl = float(self.token_ttl())
        grant_id = grant_id or secrets.token_hex(8)
        access = secrets.token_urlsafe(40)
        self.state.tokens.access[access] = {
            "client_id": client_id,
            "scope": scope,
            "user": user,
            "grant": grant_id,
            "expires_at": now + ttl,
        }
        body: dict[str, Any] = {
            "access_token": access,
            "expires_in": max(round(ttl), 0),
            "token_type": "bearer",
            "scope": scope,
        }
        if "offline_access" in scope.split():
            refresh = secrets.token_urlsafe(40)
            self.state.tokens.refresh[refresh] = {
                "client_id": client_id,
                "scope": scope,
                "user": user,
                "grant": grant_id,
                "issued_at": now,
            }
            body["refresh_token"] = refresh
        self._sweep(now)
        self.state.touch()
        return body

    def _sweep(self, now: float) -> None:
        access = self.state.tokens.access
        if len(access) > 1000:
            for tok in [t for t, v in access.items() if v["expires_at"] <= now]:
                del access[tok]

    def check_access(self, token: str) -> dict[str, Any] | None:
        """The token's record if it is live, else None."""
        rec = self.state.tokens.access.get(token)
        if rec is None:
            return None
        if rec["expires_at"] <= self.state.clock.epoch():
            return None
        return rec

    def client_of(self, token: str | None) -> str | None:
        if not token:
            return None
        rec = self.state.tokens.access.get(token)
        return rec["client_id"] if rec else None

    def revoke_grant(self, grant_id: str) -> None:
        for table in (self.state.tokens.access, self.state.tokens.refresh):
            for tok in [t for t, v in table.items() if v.get("grant") == grant_id]:
                del table[tok]
        self.state.touch()


def _token_error(error: str, description: str | None = None, status: int = 400) -> JSONResponse:
    body = {"error": error}
    if description:
        body["error_description"] = description
    return JSONResponse(body, status_code=status, headers=_NO_STORE)


def _error_page(error: str, description: str) -> HTMLResponse:
    page = (
        "<!DOCTYPE html><html><head><title>Error - Visma identity (sandbox)</title></head><body>"
        f"<h1>Sorry, there was an error</h1><p><strong>{html.escape(error)}</strong></p>"
        f"<p>{html.escape(description)}</p></body></html>"
    )
    return HTMLResponse(page, status_code=400)


def _with_query(uri: str, params: dict[str, str]) -> str:
    parts = urlsplit(uri)
    query = parse_qsl(parts.query, keep_blank_values=True) + list(params.items())
    return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(query), parts.fragment))


async def _form(request: Request) -> dict[str, str]:
    body = (await request.body()).decode("utf-8", errors="replace")
    return dict(parse_qsl(body, keep_blank_values=True))


def _basic_auth(request: Request) -> tuple[str | None, str | None]:
    header = request.headers.get("authorization", "")
    if not header.lower().startswith("basic "):
        return None, None
    try:
        raw = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
    except (ValueError, UnicodeDecodeError):
        return None, None
    client_id, sep, secret = raw.partition(":")
    if not sep:
        return None, None
    return unquote_plus(client_id), unquote_plus(secret)


def build_identity_router(service: TokenService) -> APIRouter:
    """Routes `/connect/authorize`, `/connect/token`, `/connect/revocation`."""
    router = APIRouter()

    @router.get("/connect/authorize", include_in_schema=False)
    async def authorize(request: Request) -> Response:
        q = request.query_params
        client_id = q.get("client_id")
        redirect_uri = q.get("redirect_uri")
        if not client_id or client_id != service.settings.client_id:
            return _error_page("unauthorized_client", "Unknown client or client not enabled")
        if not redirect_uri or not service.redirect_allowed(redirect_uri):
            return _error_page("invalid_request", "Invalid redirect_uri")
        state = q.get("state")

        def back(params: dict[str, str]) -> RedirectResponse:
            if state is not None:
                params["state"] = state
            return RedirectResponse(_with_query(redirect_uri, params), status_code=302)

        response_type = q.get("response_type")
        if not response_type:
            return back({"error": "invalid_request", "error_description": "Missing response_type"})
        if response_type != "code":
            return back(
                {"error": "unsupported_response_type", "error_description": "Response type not supported"}
            )
        scopes = (q.get("scope") or "").split()
        if not scopes:
            return back({"error": "invalid_request", "error_description": "Missing scope"})
        unknown = [s for s in scopes if s not in KNOWN_SCOPES]
        missing = [s for s in REQUIRED_SCOPES if s not in scopes]
        if unknown:
            return back(
                {"error": "invalid_scope", "error_description": f"Invalid scope: {' '.join(unknown)}"}
            )
        if missing:
            return back(
                {
                    "error": "invalid_scope",
                    "error_description": f"Required scope missing: {' '.join(missing)}",
                }
            )
        prompt = q.get("prompt")
        if prompt == "none":
            return back({"error": "login_required"})
        if service.config.deny:
            return back({"error": "access_denied"})
        scope = " ".join(dict.fromkeys(scopes))
        code = service.issue_code(client_id, redirect_uri, scope)
        return back({"code": code, "scope": scope, "session_state": secrets.token_hex(16)})

    @router.post("/connect/token", include_in_schema=False)
    async def token(request: Request) -> Response:
        form = await _form(request)
        client_id, secret = _basic_auth(request)
        if client_id is None:
            client_id, secret = form.get("client_id"), form.get("client_secret")
        if not service.client_ok(client_id, secret):
            return _token_error("invalid_client")
        assert client_id is not None
        grant_type = form.get("grant_type")
        tokens = service.state.tokens
        if grant_type == "authorization_code":
            code = form.get("code")
            if not code:
                return _token_error("invalid_request", "code is missing")
            rec = tokens.codes.pop(code, None)  # single use, even when the request fails below
            service.state.touch()
            if rec is None or rec["expires_at"] <= service.state.clock.epoch():
                return _token_error("invalid_grant")
            if rec["client_id"] != client_id:
                return _token_error("invalid_grant")
            if form.get("redirect_uri") != rec["redirect_uri"]:
                return _token_error("invalid_grant", "redirect_uri does not match")
            body = service.issue_tokens(client_id, rec["scope"], rec["user"])
            return JSONResponse(body, headers=_NO_STORE)
        if grant_type == "refresh_token":
            refresh = form.get("refresh_token")
            if not refresh:
                return _token_error("invalid_request", "refresh_token is missing")
            rec = tokens.refresh.get(refresh)
            if rec is None or rec["client_id"] != client_id:
                return _token_error("invalid_grant")
            scope = rec["scope"]
            wanted = form.get("scope")
            if wanted:
                asked = wanted.split()
                if any(s not in scope.split() for s in asked):
                    return _token_error("invalid_scope")
                scope = " ".join(asked)
                if "offline_access" not in asked:
                    scope += " offline_access"
            del tokens.refresh[refresh]  # rotation: the old refresh token dies now
            body = service.issue_tokens(client_id, scope, rec["user"], grant_id=rec.get("grant"))
            return JSONResponse(body, headers=_NO_STORE)
        if not grant_type:
            return _token_error("invalid_request", "grant_type is missing")
        return _token_error("unsupported_grant_type")

    @router.post("/connect/revocation", include_in_schema=False)
    async def revocation(request: Request) -> Response:
        form = await _form(request)
        client_id, secret = _basic_auth(request)
        if client_id is None:
            client_id, secret = form.get("client_id"), form.get("client_secret")
        if not service.client_ok(client_id, secret):
            return _token_error("invalid_client")
        token_value = form.get("token")
        if not token_value:
            return _token_error("invalid_request", "token is missing")
        hint = form.get("token_type_hint")
        if hint and hint not in ("access_token", "refresh_token"):
            return _token_error("unsupported_token_type")
        tokens = service.state.tokens
        rec = tokens.refresh.get(token_value) or tokens.access.get(token_value)
        if rec is not None and rec.get("client_id") == client_id:
            if token_value in tokens.refresh:
                service.revoke_grant(rec["grant"])
            else:
                del tokens.access[token_value]
                service.state.touch()
        return Response(status_code=200)

    return router
