"""Structured logging (structlog), JSON or console, with secrets scrubbed from every event.

Tracebacks are for developers: below DEBUG an event's `exc_info` becomes one `error` line (the
exception's type and first line), so a user's console never fills with a stack.
"""

from __future__ import annotations

import logging
import re
import sys
from typing import Any

import structlog

SECRET_KEYS = re.compile(r"(secret|token|password|authorization|api[_-]?key|code_verifier|^code$)", re.I)
SECRET_IN_TEXT = re.compile(
    r"((?:access_token|refresh_token|client_secret|code|password)=)[^&\s\"']+|(Bearer\s+)[A-Za-z0-9._~+/=-]+",
    re.I,
)
REDACTED = "***"


def scrub_text(text: str) -> str:
    """Hide secret values in free text (URLs with query strings, header dumps)."""
    return SECRET_IN_TEXT.sub(lambda m: (m.group(1) or m.group(2)) + REDACTED, text)


def scrub(value: Any, key: str = "") -> Any:
    """Recursively hide values whose key names a secret, and secrets inside strings."""
    if key and SECRET_KEYS.search(key) and value not in (None, ""):
        return REDACTED
    if isinstance(value, dict):
        return {k: scrub(v, str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [scrub(v) for v in value]
    if isinstance(value, str):
        return scrub_text(value)
    return value


def _scrub_processor(_logger: Any, _name: str, event: dict[str, Any]) -> dict[str, Any]:
    return {k: (v if k == "event" else scrub(v, k)) for k, v in event.items()}


def error_line(exc: BaseException, limit: int = 300) -> str:
    """An exception as one line: its type and the first line of its message (for a database error the
    driver's message, without the SQL), at most `limit` characters, secrets scrubbed."""
    inner = getattr(exc, "orig", None)
    text = str(inner if inner is not None else exc).strip()
    line = text.splitlines()[0].strip() if text else ""
    line = f"{type(exc).__name__}: {line}" if line else type(exc).__name__
    line = scrub_text(line)
    return line if len(line) <= limit else line[: limit - 1] + "…"


def _no_traceback(_logger: Any, _name: str, event: dict[str, Any]) -> dict[str, Any]:
    """Above DEBUG: replace `exc_info` with a one-line `error`."""
    exc_info = event.pop("exc_info", None)
    if exc_info:
        exc = exc_info if isinstance(exc_info, BaseException) else sys.exc_info()[1]
        if exc is not None:
            event.setdefault("error", error_line(exc))
    return event


def configure_logging(level: str = "INFO", fmt: str = "console", stream: Any = None) -> None:
    """Set up structlog for the process: `fmt` is "console" or "json"; `level` a logging level name
    (a ValueError names an unknown one). Tracebacks are rendered at DEBUG only."""
    number = logging.getLevelName(level.upper())
    if not isinstance(number, int):
        raise ValueError(f"log level {level!r} is not one of DEBUG, INFO, WARNING, ERROR, CRITICAL")
    renderer: Any = (
        structlog.processors.JSONRenderer() if fmt == "json" else structlog.dev.ConsoleRenderer(colors=False)
    )
    exc = structlog.processors.format_exc_info if number <= logging.DEBUG else _no_traceback
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            _scrub_processor,
            exc,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(number),
        logger_factory=structlog.PrintLoggerFactory(file=stream or sys.stderr),
        cache_logger_on_first_use=False,
    )
