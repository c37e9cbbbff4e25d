"""Languages: Swedish by default, English selectable, from gettext catalogues (Babel ``.po`` files).

The catalogues live in ``locale/<lang>/LC_MESSAGES/messages.po`` and are compiled in memory when
first used (no binary ``.mo`` files in the repository). Source strings are English; mark them with
``_()`` (translated now, in the request's language), ``N_()`` (only marked: translated where shown)
or ``{{ _("...") }}`` / ``{% trans %}`` in templates. ``python -m shopbridge.web.portal.i18n`` extracts
the strings and updates both catalogues; a test fails when any string lacks a translation.
"""

from __future__ import annotations

import contextvars
import gettext
import io
from functools import cache
from pathlib import Path
from typing import Any

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

__all__ = ["DEFAULT_LANGUAGE", "LANGUAGES", "N_", "_", "catalogue", "language", "ngettext", "use_language"]

LANGUAGES = {"sv": "Svenska", "en": "English"}
DEFAULT_LANGUAGE = "sv"
LOCALE_DIR = Path(__file__).parent / "locale"

_current: contextvars.ContextVar[str] = contextvars.ContextVar("portal_language", default=DEFAULT_LANGUAGE)


@cache
def catalogue(lang: str) -> gettext.NullTranslations:
    """The compiled catalogue of `lang` (an empty one when the file is missing)."""
    path = LOCALE_DIR / lang / "LC_MESSAGES" / "messages.po"
    if not path.exists():
        return gettext.NullTranslations()
    with path.open("rb") as fh:
        cat = read_po(fh, locale=lang)
    buf = io.BytesIO()
    write_mo(buf, cat)
    buf.seek(0)
    return gettext.GNUTranslations(buf)


def pick(lang: str | None) -> str:
    return lang if lang in LANGUAGES else DEFAULT_LANGUAGE


def use_language(lang: str | None) -> str:
    """Make `lang` the language of this request (task); returns the one used."""
    chosen = pick(lang)
    _current.set(chosen)
    return chosen


def language() -> str:
    return _current.get()


def _(message: str, **values: object) -> str:
    """`message` in the current language, with `%(name)s` placeholders filled from `values`."""
    text = catalogue(_current.get()).gettext(message)
    return text % values if values else text


def ngettext(singular: str, plural: str, n: int, **values: object) -> str:
    text = catalogue(_current.get()).ngettext(singular, plural, n)
    return text % {"num": n, **values}


def N_(message: str) -> str:
    """Mark a string for extraction without translating it yet."""
    return message


def extract_messages() -> Any:
    """Every string to translate: the portal's code and templates, and the settings' meanings."""
    from babel.messages.catalog import Catalog
    from babel.messages.extract import extract_from_dir

    from shopbridge.sync.settings import ConnectionSettings

    root = Path(__file__).parent
    template = Catalog(project="shopbridge portal")
    for filename, lineno, message, comments, context in extract_from_dir(
        root, method_map=METHOD_MAP, options_map=OPTIONS_MAP, keywords=KEYWORDS
    ):
        template.add(message, None, [(filename, lineno)], auto_comments=comments, context=context)
    for name, info in ConnectionSettings.model_fields.items():
        if info.description:
            template.add(info.description, None, [("sync/settings.py", 0)], auto_comments=[f"setting {name}"])
    return template


def update_catalogues() -> None:  # pragma: no cover - a developer's tool
    """Merge every string to translate into both catalogues (then fill in the Swedish)."""
    from babel.messages.catalog import Catalog
    from babel.messages.pofile import write_po

    template = extract_messages()
    for lang in LANGUAGES:
        path = LOCALE_DIR / lang / "LC_MESSAGES" / "messages.po"
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.exists():
            with path.open("rb") as fh:
                cat = read_po(fh, locale=lang)
        else:
            cat = Catalog(locale=lang)
        cat.update(template, no_fuzzy_matching=True)
        with path.open("wb") as fh:
            write_po(fh, cat, width=110, omit_header=False, ignore_obsolete=True)


KEYWORDS = {"_": None, "N_": None, "ngettext": (1, 2)}
METHOD_MAP = [("**.py", "python"), ("templates/**.html", "jinja2"), ("templates/**.txt", "jinja2")]
OPTIONS_MAP = {
    "templates/**.html": {"extensions": "jinja2.ext.i18n", "newstyle_gettext": "true"},
    "templates/**.txt": {"extensions": "jinja2.ext.i18n", "newstyle_gettext": "true"},
}

if __name__ == "__main__":  # pragma: no cover
    update_catalogues()
