"""Text rules: shorten values to Visma's maximum lengths deliberately, on a word boundary, and say so."""

from __future__ import annotations

from .models import Warning

__all__ = [
    "MAX_ADDRESS",
    "MAX_ARTICLE_NUMBER",
    "MAX_CITY",
    "MAX_CUSTOMER_NUMBER",
    "MAX_NAME",
    "MAX_POSTAL_CODE",
    "collapse_spaces",
    "shorten",
]

# Visma eAccounting v2 maxLength values (CustomerApi, ArticleApi, CustomerInvoiceDraftApi).
MAX_NAME = 50
MAX_ADDRESS = 50
MAX_CITY = 50
MAX_ARTICLE_NUMBER = 40
MAX_CUSTOMER_NUMBER = 16
MAX_POSTAL_CODE = 10

_TRAILING = " \t,;:-/&"


def collapse_spaces(value: str) -> str:
    """Strip and turn every run of whitespace (newlines too) into one space."""
    return " ".join(value.split())


def shorten(value: str, max_len: int, *, field: str | None = None) -> tuple[str, Warning | None]:
    """Fit ``value`` into ``max_len`` characters, cutting on a word boundary.

    Whitespace is collapsed first (that alone is not reported). If the text is still too long it is
    cut after the last whole word that fits, and trailing separators (``,;:-/&``) are dropped; a
    first word longer than ``max_len`` is cut inside the word, as nothing else fits. Returns the
    value and a :class:`~shopbridge.domain.models.Warning` (code ``"shortened"``) when it was
    shortened, else ``None``. The result is always a prefix of the collapsed text.
    """
    if max_len < 1:
        raise ValueError("max_len must be at least 1")
    text = collapse_spaces(value)
    if len(text) <= max_len:
        return text, None
    head = text[: max_len + 1]  # one extra char: a space right after the limit means a clean cut
    cut = head.rfind(" ")
    short = head[:cut].rstrip(_TRAILING) if cut > 0 else ""
    if not short:
        short = text[:max_len].rstrip()
    label = field or "text"
    warning = Warning(
        code="shortened",
        message=f'{label} shortened to {max_len} characters: "{short}" (was "{text}")',
        field=field,
        original=text,
        value=short,
    )
    return short, warning
