"""Visma's error body `{ErrorCode, DeveloperErrorMessage, ErrorId}` as typed exceptions.

Each class is both the shared category (`BadRequestError`, `RateLimitError`, ...) and `VismaError`,
so callers can catch either. Onboarding problems a user must fix in Visma (the API add-on, fiscal
year, invoice number series, ...) carry a plain-words `hint`.
"""

from __future__ import annotations

import re
from typing import Any

from shopbridge.http import (
    ApiError,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ServerError,
    error_class_for_status,
)

RATE_LIMIT_CODE = 4010
_TRY_AGAIN = re.compile(r"try again in\s+(\d+(?:\.\d+)?)\s*(?:seconds?|secs?|s)\b", re.IGNORECASE)


class VismaError(ApiError):
    """An error answer from the Visma API, with Visma's own fields.

    `error_code` (int `ErrorCode`), `developer_message` (`DeveloperErrorMessage`), `error_id`
    (`ErrorId`, quote it to Visma support), `errors` (per-field details), `hint` (what to do, in
    plain words, when the cause is known). The shared `code`/`message`/`request_id` hold the same.
    """

    def __init__(
        self,
        message: str,
        *,
        error_code: int | None = None,
        developer_message: str = "",
        error_id: str | None = None,
        errors: list[dict[str, Any]] | None = None,
        hint: str | None = None,
        **kw: Any,
    ) -> None:
        kw.setdefault("service", "visma")
        kw.setdefault("code", error_code)
        kw.setdefault("request_id", error_id)
        super().__init__(message, **kw)
        self.error_code = error_code
        self.developer_message = developer_message
        self.error_id = error_id
        self.errors = errors or []
        self.hint = hint


class VismaBadRequestError(VismaError, BadRequestError):
    """400: the request was refused (validation, a business rule, a missing setup step)."""


class VismaAuthenticationError(VismaError, AuthenticationError):
    """401: the access token is missing, expired or revoked."""


class VismaPermissionDeniedError(VismaError, PermissionDeniedError):
    """403: a module, scope or company state does not allow this call."""


class VismaNotFoundError(VismaError, NotFoundError):
    """404: no such resource."""


class VismaConflictError(VismaError, ConflictError):
    """409: conflicts with the current state."""


class VismaRateLimitError(VismaError, RateLimitError):
    """429 / ErrorCode 4010: over 600 calls per minute on this endpoint; `retry_after` in seconds."""


class VismaServerError(VismaError, ServerError):
    """5xx: Visma failed; the call may or may not have taken effect."""


_BY_CATEGORY: dict[type[ApiError], type[VismaError]] = {
    BadRequestError: VismaBadRequestError,
    AuthenticationError: VismaAuthenticationError,
    PermissionDeniedError: VismaPermissionDeniedError,
    NotFoundError: VismaNotFoundError,
    ConflictError: VismaConflictError,
    RateLimitError: VismaRateLimitError,
    ServerError: VismaServerError,
}

# (pattern on the developer message, hint). The first match wins.
_HINTS: list[tuple[re.Pattern[str], str]] = [
    (
        re.compile(r"no access to module:?\s*api_standard", re.I),
        "the API add-on (Integration) is not enabled for this company: activate it in Visma "
        "eEkonomi (the company's add-on/integration settings), then connect again",
    ),
    (
        re.compile(r"no access to module", re.I),
        "the company lacks a Visma module this call needs (orders need the order module, which the "
        "Solo variant does not have; sales price lists need the Pro variant)",
    ),
    (
        re.compile(r"fiscal\s*year|financial\s*year|räkenskapsår", re.I),
        "the company has no open fiscal year covering this date: create the fiscal year in Visma "
        "(Settings → Fiscal years) and try again",
    ),
    (
        re.compile(r"number\s*series|invoice\s*number.*(missing|not set|series|configured)", re.I),
        "no invoice number series is set up: set the next invoice number in Visma's invoice "
        "settings (the startup guide does this) and try again",
    ),
    (
        re.compile(r"startup guide|start-?up wizard", re.I),
        "the company has not finished Visma's startup guide: complete it in Visma first",
    ),
    (
        re.compile(r"company is not active|inactive company", re.I),
        "the Visma company is not active (subscription ended or not started)",
    ),
    (
        re.compile(r"no access to scope|insufficient[_ ]scope|(missing|required) scope", re.I),
        "the connection lacks an OAuth scope this call needs (ea:sales, ea:accounting): connect again",
    ),
]
_HINTS_BY_CODE: dict[int, str] = {
    3001: _HINTS[2][1],  # FiscalYearDoesNotExist
    4003: _HINTS[4][1],  # StartupGuideNotCompleted
    4004: _HINTS[5][1],  # CompanyNotActive
    4006: _HINTS[6][1],  # NoAccessToScopes
}


def hint_for(error_code: int | None, developer_message: str) -> str | None:
    """A plain-words explanation for onboarding errors a user must fix in Visma; None otherwise."""
    for pattern, hint in _HINTS:
        if pattern.search(developer_message or ""):
            return hint
    return _HINTS_BY_CODE.get(error_code or 0)


def retry_after_from_message(message: str) -> float | None:
    """Seconds from Visma's "... Try again in 55 seconds." text."""
    match = _TRY_AGAIN.search(message or "")
    return float(match.group(1)) if match else None


def from_body(
    status: int,
    body: Any,
    *,
    method: str = "",
    path: str = "",
    retry_after: float | None = None,
) -> VismaError:
    """The typed exception for an error answer with `body` (a parsed Visma error body, or anything)."""
    data = body if isinstance(body, dict) else {}
    raw_code = data.get("ErrorCode")
    try:
        error_code = int(raw_code) if raw_code is not None else None
    except (TypeError, ValueError):
        error_code = None
    developer_message = str(data.get("DeveloperErrorMessage") or "")
    error_id = str(data["ErrorId"]) if data.get("ErrorId") else None
    errors = [e for e in data.get("Errors") or [] if isinstance(e, dict)]
    category = RateLimitError if error_code == RATE_LIMIT_CODE else error_class_for_status(status)
    cls = _BY_CATEGORY.get(category, VismaError)
    if cls is VismaRateLimitError and retry_after is None:
        retry_after = retry_after_from_message(developer_message)
    hint = hint_for(error_code, developer_message)
    message = developer_message or f"HTTP {status}"
    if errors and not developer_message:
        message = "; ".join(str(e.get("Message") or e.get("Field") or "") for e in errors)
    if hint:
        message = f"{message} — likely cause: {hint}"
    return cls(
        message,
        error_code=error_code,
        developer_message=developer_message,
        error_id=error_id,
        errors=errors,
        hint=hint,
        status=status,
        body=body,
        method=method,
        path=path,
        retry_after=retry_after,
    )
