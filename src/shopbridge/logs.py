"""Structured logging (structlog), JSON or console, with secrets scrubbed from every event."""

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


def configure_logging(level: str = "INFO", fmt: str = "console", stream: Any = None) -> None:
    """Set up structlog for the process: `fmt` is "console" or "json"."""
    renderer: Any = (
        structlog.processors.JSONRenderer() if fmt == "json" else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            _scrub_processor,
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(file=stream or sys.stderr),
        cache_logger_on_first_use=False,
    )
