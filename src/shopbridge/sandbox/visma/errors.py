"""Visma error bodies: `{"ErrorCode", "DeveloperErrorMessage", "ErrorId"}` on every non-2xx answer.

Error codes follow Visma's published table (developer.vismaonline.com/docs/error-codes).
"""

from __future__ import annotations

import uuid
from typing import Any

# Visma's documented error codes.
DATA_MODEL_VALIDATION = 2000
RESOURCE_NOT_FOUND = 3000
FISCAL_YEAR_DOES_NOT_EXIST = 3001
CONFLICT = 4000
CANNOT_BE_DELETED = 4001
CANNOT_BE_CREATED_OR_UPDATED = 4002
NO_ACCESS_TO_MODULE = 4002
STARTUP_GUIDE_NOT_COMPLETED = 4003
COMPANY_NOT_ACTIVE = 4004
NOT_AUTHORIZED = 4005
NO_ACCESS_TO_SCOPES = 4006
API_QUOTA_EXCEEDED = 4010
GENERAL_ERROR = 1000

UNAUTHORIZED_MESSAGE = "AuthorizationException - Authorization has been denied for this request."


def error_body(code: int, message: str, errors: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """A Visma error body with a fresh ErrorId (uuid)."""
    body: dict[str, Any] = {"ErrorCode": code, "DeveloperErrorMessage": message, "ErrorId": str(uuid.uuid4())}
    if errors:
        body["Errors"] = errors
    return body


def violations_body(violations: list[Any]) -> tuple[str, list[dict[str, Any]]]:
    """DataModelValidation's message and `Errors` (each naming its field) for schema violations."""
    message = "Validation failed: " + "; ".join(v.message for v in violations[:10])
    errors = [
        {
            "Field": v.field or None,
            "ErrorCode": str(DATA_MODEL_VALIDATION),
            "Message": v.message,
            "Key": v.kind,
        }
        for v in violations[:50]
    ]
    return message, errors


class VismaError(Exception):
    """Raised by handlers; turned into a Visma error answer by the app's exception handler."""

    def __init__(
        self,
        status: int,
        code: int,
        message: str,
        errors: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.errors = errors
        self.headers = headers

    def body(self) -> dict[str, Any]:
        return error_body(self.code, self.message, self.errors)


def validation_error(message: str, field: str | None = None) -> VismaError:
    """400 DataModelValidationError naming the offending field."""
    errors = (
        [{"Field": field, "ErrorCode": str(DATA_MODEL_VALIDATION), "Message": message, "Key": None}]
        if field
        else None
    )
    return VismaError(400, DATA_MODEL_VALIDATION, message, errors)


def not_found(what: str, ident: object) -> VismaError:
    """404 ResourceNotFound for an id in the path."""
    return VismaError(
        404, RESOURCE_NOT_FOUND, f"ResourceNotFoundException - {what} with id '{ident}' was not found."
    )


def reference_not_found(field: str, what: str, ident: object) -> VismaError:
    """400 ResourceNotFound for an id referenced from a request body."""
    err = VismaError(
        400,
        RESOURCE_NOT_FOUND,
        f"{field}: {what} with id '{ident}' does not exist.",
        [{"Field": field, "ErrorCode": str(RESOURCE_NOT_FOUND), "Message": f"{what} not found", "Key": None}],
    )
    return err


def business_error(message: str, field: str | None = None) -> VismaError:
    """400 CanNotBeCreatedOrUpdated (a rule of the domain, not of the data model)."""
    errors = (
        [{"Field": field, "ErrorCode": str(CANNOT_BE_CREATED_OR_UPDATED), "Message": message, "Key": None}]
        if field
        else None
    )
    return VismaError(400, CANNOT_BE_CREATED_OR_UPDATED, message, errors)


def no_module(module: str) -> VismaError:
    """403 NoAccessToModule, the way Visma words it."""
    return VismaError(403, NO_ACCESS_TO_MODULE, f"ForbiddenRequestException - No access to module: {module}")


def unauthorized(message: str = UNAUTHORIZED_MESSAGE) -> VismaError:
    return VismaError(401, NOT_AUTHORIZED, message)
