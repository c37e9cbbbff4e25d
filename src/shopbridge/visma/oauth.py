"""OAuth2 for Visma eAccounting: authorize URL with `state`, code exchange, refresh, revocation.

Visma rotates refresh tokens: every refresh returns a new pair and kills the old refresh token. So
the new pair is written to the `TokenStore` before anything uses it, and concurrent refreshes are
collapsed into one: one `asyncio.Lock` per `VismaOAuth`, the store's own lock when it has one
(the store's `StoreTokenStore` locks in the database, across processes and machines;
`FileTokenStore` with an OS file lock, POSIX or Windows), and before refreshing the stored pair is
reloaded; when its refresh token differs from the one the caller held, someone else already rotated it and the
stored pair is used as is. Tokens never appear in logs, reprs or error messages.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hmac
import json
import os
import secrets
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol, runtime_checkable
from urllib.parse import quote, urlencode

import httpx
import structlog

from shopbridge.http import ApiClient, ApiError, AuthenticationError, RetryPolicy

log = structlog.get_logger("shopbridge.visma.oauth")

DEFAULT_IDENTITY_URL = "https://identity.vismaonline.com"
DEFAULT_SCOPES = ("ea:api", "offline_access", "ea:sales")
ACR_VALUES = "service:44643EB1-3F76-4C1C-A672-402AE8085934"


# -- errors ---------------------------------------------------------------------------------------
class OAuthError(AuthenticationError):
    """The identity server refused a request (`error` is the OAuth error code), or the flow broke."""

    def __init__(self, message: str, *, error: str = "", description: str = "", **kw: Any) -> None:
        kw.setdefault("service", "visma-identity")
        kw.setdefault("code", error or None)
        super().__init__(message, **kw)
        self.error = error
        self.description = description


class InvalidGrantError(OAuthError):
    """The code or refresh token is unknown, spent, expired or revoked: the user must connect again."""


class InvalidClientError(OAuthError):
    """Client id or secret is wrong."""


class StateMismatchError(OAuthError):
    """The `state` that came back is not the one we sent (possible CSRF): the callback is refused."""


class NotConnectedError(OAuthError):
    """There is no stored token: run the authorization flow first."""


_OAUTH_ERRORS: dict[str, type[OAuthError]] = {
    "invalid_grant": InvalidGrantError,
    "invalid_client": InvalidClientError,
    "unauthorized_client": InvalidClientError,
}


# -- tokens and their store -----------------------------------------------------------------------
@dataclass(frozen=True, repr=False)
class TokenSet:
    """An access token, the refresh token that goes with it, and when the access token expires."""

    access_token: str
    refresh_token: str | None
    expires_at: datetime
    token_type: str = "bearer"
    scope: str = ""

    def expires_within(self, seconds: float, *, now: datetime | None = None) -> bool:
        """True when the access token is expired or expires within `seconds`."""
        now = now or datetime.now(UTC)
        return self.expires_at - now <= timedelta(seconds=seconds)

    @classmethod
    def from_response(cls, body: dict[str, Any], *, previous: TokenSet | None = None) -> TokenSet:
        """Read a token answer; keeps the previous refresh token if the server sent none."""
        if not isinstance(body, dict) or not body.get("access_token"):
            raise OAuthError("token answer without access_token", error="invalid_response")
        expires_in = float(body.get("expires_in") or 3600)
        return cls(
            access_token=str(body["access_token"]),
            refresh_token=body.get("refresh_token") or (previous.refresh_token if previous else None),
            expires_at=datetime.now(UTC) + timedelta(seconds=expires_in),
            token_type=str(body.get("token_type") or "bearer"),
            scope=str(body.get("scope") or (previous.scope if previous else "")),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "access_token": self.access_token,
            "refresh_token": self.refresh_token,
            "expires_at": self.expires_at.isoformat(),
            "token_type": self.token_type,
            "scope": self.scope,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TokenSet:
        expires_at = datetime.fromisoformat(data["expires_at"])
        if expires_at.tzinfo is None:
            expires_at = expires_at.replace(tzinfo=UTC)
        return cls(
            access_token=data["access_token"],
            refresh_token=data.get("refresh_token"),
            expires_at=expires_at,
            token_type=data.get("token_type", "bearer"),
            scope=data.get("scope", ""),
        )

    def __repr__(self) -> str:
        return f"TokenSet(access_token=***, refresh_token=***, expires_at={self.expires_at.isoformat()})"


@runtime_checkable
class TokenStore(Protocol):
    """Where the token pair lives. `save` must be durable when it returns (the old pair is dead).

    A store may also offer `lock()` (an async context manager that serialises refreshes across
    processes) and `clear()`; both are optional.
    """

    async def load(self) -> TokenSet | None: ...

    async def save(self, tokens: TokenSet) -> None: ...


class MemoryTokenStore:
    """Keeps the pair in memory (tests, one-off scripts)."""

    def __init__(self, tokens: TokenSet | None = None) -> None:
        self._tokens = tokens
        self._lock = asyncio.Lock()
        self.saves = 0

    async def load(self) -> TokenSet | None:
        return self._tokens

    async def save(self, tokens: TokenSet) -> None:
        self._tokens = tokens
        self.saves += 1

    async def clear(self) -> None:
        self._tokens = None

    @contextlib.asynccontextmanager
    async def lock(self) -> AsyncIterator[None]:
        async with self._lock:
            yield


class FileTokenStore:
    """Keeps the pair in a JSON file (mode 0600, replaced atomically), unencrypted: for tests and dev.

    `lock()` takes an exclusive OS lock on `<path>.lock` (`flock` on POSIX, `msvcrt.locking` on
    Windows), so refreshes are serialised across the processes of one machine.
    """

    def __init__(self, path: str | os.PathLike[str], *, lock_poll_s: float = 0.01) -> None:
        self.path = Path(path)
        self.lock_poll_s = lock_poll_s
        self.saves = 0

    async def load(self) -> TokenSet | None:
        try:
            text = await asyncio.to_thread(self.path.read_text, encoding="utf-8")
        except FileNotFoundError:
            return None
        return TokenSet.from_dict(json.loads(text))

    async def save(self, tokens: TokenSet) -> None:
        await asyncio.to_thread(self._write, json.dumps(tokens.to_dict()))
        self.saves += 1

    async def clear(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            await asyncio.to_thread(self.path.unlink)

    def _write(self, text: str) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=self.path.name, suffix=".tmp", dir=self.path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(text)
                fh.flush()
                os.fsync(fh.fileno())
            os.chmod(tmp, 0o600)
            os.replace(tmp, self.path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise

    @contextlib.asynccontextmanager
    async def lock(self) -> AsyncIterator[None]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(f"{self.path}.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            while not _try_lock_file(fd):
                await asyncio.sleep(self.lock_poll_s)
            yield
        finally:
            os.close(fd)  # closing the descriptor releases the lock


def _try_lock_file(fd: int) -> bool:
    """Take an exclusive lock on an open file without waiting; False when another process has it."""
    if os.name == "nt":
        import msvcrt

        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
            return True
        except OSError:
            return False
    import fcntl

    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False


# -- the identity server client -------------------------------------------------------------------
class _IdentityClient(ApiClient):
    """POSTs to `/connect/*` through the shared request loop, with OAuth error bodies."""

    service = "visma-identity"

    def error_from_response(self, response: httpx.Response, method: str, path: str) -> ApiError:
        body = self.decode(response)
        error = str(body.get("error") or "") if isinstance(body, dict) else ""
        description = str(body.get("error_description") or "") if isinstance(body, dict) else ""
        if response.status_code >= 500 or response.status_code == 429:
            return super().error_from_response(response, method, path)
        cls = _OAUTH_ERRORS.get(error, OAuthError)
        message = error or f"HTTP {response.status_code}"
        if description:
            message += f": {description}"
        return cls(
            message,
            error=error,
            description=description,
            status=response.status_code,
            body=body,
            method=method,
            path=path,
        )


class VismaOAuth:
    """Authorization-code flow against Visma's identity server, with rotation-safe refresh."""

    def __init__(
        self,
        client_id: str,
        client_secret: str,
        redirect_uri: str,
        *,
        identity_url: str = DEFAULT_IDENTITY_URL,
        scopes: tuple[str, ...] | list[str] = DEFAULT_SCOPES,
        token_store: TokenStore,
        timeout: float = 30.0,
        retry: RetryPolicy | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        rotation_grace_s: float = 2.0,
    ) -> None:
        self.client_id = client_id
        self._client_secret = client_secret
        self.redirect_uri = redirect_uri
        self.identity_url = identity_url.rstrip("/")
        self.scopes = tuple(scopes)
        self.token_store = token_store
        self.rotation_grace_s = rotation_grace_s
        self.refreshes = 0  # refresh grants actually sent by this instance
        self._token: TokenSet | None = None
        self._lock = asyncio.Lock()
        self._identity = _IdentityClient(
            self.identity_url,
            timeout=timeout,
            retry=retry or RetryPolicy(max_attempts=3),
            transport=transport,
        )

    def __repr__(self) -> str:
        return f"VismaOAuth(client_id={self.client_id!r}, identity_url={self.identity_url!r})"

    # -- authorization ----------------------------------------------------------------------------
    def authorize_url(self, state: str | None = None) -> tuple[str, str]:
        """The URL to send the user to, and the `state` to keep (in the session) for `check_state`."""
        state = state or secrets.token_urlsafe(32)
        params = {
            "client_id": self.client_id,
            "redirect_uri": self.redirect_uri,
            "scope": " ".join(self.scopes),
            "state": state,
            "response_type": "code",
            "prompt": "select_account",
            "acr_values": ACR_VALUES,
        }
        return f"{self.identity_url}/connect/authorize?{urlencode(params, quote_via=quote)}", state

    @staticmethod
    def check_state(expected: str | None, got: str | None) -> None:
        """Raise `StateMismatchError` unless the callback's `state` equals the one we sent."""
        if not expected or not got or not hmac.compare_digest(expected.encode(), got.encode()):
            raise StateMismatchError("state mismatch: the authorization callback is refused", error="state")

    async def exchange_code(self, code: str) -> TokenSet:
        """Trade the callback's code for a token pair, store it and return it."""
        body = await self._token_request(
            {"grant_type": "authorization_code", "code": code, "redirect_uri": self.redirect_uri}
        )
        tokens = TokenSet.from_response(body)
        async with self._lock:
            await self.token_store.save(tokens)
            self._token = tokens
        log.info("visma.oauth.connected", client_id=self.client_id, scope=tokens.scope)
        return tokens

    # -- tokens -----------------------------------------------------------------------------------
    async def current(self) -> TokenSet:
        """The pair in use (loaded from the store on first use)."""
        if self._token is None:
            self._token = await self.token_store.load()
            if self._token is None:
                raise NotConnectedError("not connected to Visma: no stored token", error="not_connected")
        return self._token

    async def valid_token(self, margin_s: float = 60.0) -> TokenSet:
        """A pair whose access token lives at least `margin_s` more seconds (refreshing if needed)."""
        token = await self.current()
        for _ in range(2):  # a pair adopted from another process may itself be near expiry
            if not token.expires_within(margin_s):
                return token
            token = await self.refresh(stale=token)
        return token

    async def refresh(self, stale: TokenSet | None = None) -> TokenSet:
        """Rotate the pair, unless someone already rotated the one the caller holds (`stale`).

        Returns the pair to use. The new pair is saved to the store before it is returned.
        """
        held = stale or self._token
        async with self._lock, self._store_lock():
            stored = await self.token_store.load()
            if stored is not None and held is not None and stored.refresh_token != held.refresh_token:
                self._token = stored  # another task or process rotated it: use theirs
                return stored
            current = stored or held
            if current is None or not current.refresh_token:
                raise NotConnectedError("no refresh token: connect to Visma again", error="not_connected")
            try:
                self.refreshes += 1
                body = await self._token_request(
                    {"grant_type": "refresh_token", "refresh_token": current.refresh_token}
                )
            except InvalidGrantError:
                adopted = await self._rotated_elsewhere(current)
                if adopted is None:
                    raise
                return adopted
            tokens = TokenSet.from_response(body, previous=current)
            await self.token_store.save(tokens)  # durable first: the old refresh token is dead now
            self._token = tokens
            log.info("visma.oauth.refreshed", client_id=self.client_id)
            return tokens

    async def _rotated_elsewhere(self, used: TokenSet) -> TokenSet | None:
        """After invalid_grant: a store without a lock may be saving another process's new pair."""
        deadline = time.monotonic() + self.rotation_grace_s
        while True:
            stored = await self.token_store.load()
            if stored is not None and stored.refresh_token != used.refresh_token:
                self._token = stored
                return stored
            if time.monotonic() >= deadline:
                return None
            await asyncio.sleep(0.05)

    async def revoke(self) -> None:
        """Revoke the refresh token (and with it the grant) and forget the stored pair."""
        async with self._lock, self._store_lock():
            tokens = await self.token_store.load() or self._token
            if tokens is not None:
                token, hint = (
                    (tokens.refresh_token, "refresh_token")
                    if tokens.refresh_token
                    else (tokens.access_token, "access_token")
                )
                await self._identity.request(
                    "POST",
                    "connect/revocation",
                    data={"token": token, "token_type_hint": hint},
                    headers=self._basic(),
                    auth=False,
                    idempotent=True,  # revoking twice is harmless
                )
            clear = getattr(self.token_store, "clear", None)
            if clear is not None:
                await clear()
            self._token = None

    async def forget(self) -> None:
        """Drop the in-memory pair so the next call reloads from the store."""
        self._token = None

    def _store_lock(self) -> contextlib.AbstractAsyncContextManager[Any]:
        lock = getattr(self.token_store, "lock", None)
        return lock() if lock is not None else contextlib.nullcontext()

    async def _token_request(self, form: dict[str, str]) -> dict[str, Any]:
        # Repeating a token request after a lost answer is harmless: a spent code or refresh token
        # is refused (invalid_grant), nothing is created twice.
        body = await self._identity.request(
            "POST", "connect/token", data=form, headers=self._basic(), auth=False, idempotent=True
        )
        if not isinstance(body, dict):
            raise OAuthError("token answer is not JSON", error="invalid_response")
        return body

    def _basic(self) -> dict[str, str]:
        raw = f"{self.client_id}:{self._client_secret}".encode()
        return {"Authorization": "Basic " + base64.b64encode(raw).decode("ascii")}

    async def aclose(self) -> None:
        await self._identity.aclose()

    async def __aenter__(self) -> VismaOAuth:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


__all__ = [
    "ACR_VALUES",
    "DEFAULT_IDENTITY_URL",
    "DEFAULT_SCOPES",
    "FileTokenStore",
    "InvalidClientError",
    "InvalidGrantError",
    "MemoryTokenStore",
    "NotConnectedError",
    "OAuthError",
    "StateMismatchError",
    "TokenSet",
    "TokenStore",
    "VismaOAuth",
]
