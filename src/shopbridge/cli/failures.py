"""Every failure a user can meet, as an exit code and one sentence that names the thing and what to do.

`explain(exc)` is the one place that turns an exception into a `Failure`. Explainers are registered
per exception class by its dotted name (`@explains("sqlalchemy.exc.OperationalError")`), so the CLI
starts without importing the stacks it explains, and a new failure class is one function here.
The most specific class wins (the exception's MRO is walked in order). The traceback never reaches
the user: `ExplainingGroup` logs it at DEBUG (`--log-level DEBUG` shows it).

Exit codes: 1 done but something waits (and failures no class explains: a bug), 2 bad usage or
configuration, 3 a remote system refused the credentials, 4 a remote system could not be reached.
"""

from __future__ import annotations

import contextlib
import errno
import re
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

EXIT_OK, EXIT_WAITING, EXIT_CONFIG, EXIT_AUTH, EXIT_UNREACHABLE = 0, 1, 2, 3, 4

CONNECTION: ContextVar[str | None] = ContextVar("shopbridge_cli_connection", default=None)
"""The connection a command is working on, for sentences that name it (set with `about`)."""
DATABASE: ContextVar[str | None] = ContextVar("shopbridge_cli_database", default=None)
"""The database URL (password hidden) or path the command opens."""


@dataclass(frozen=True)
class Failure:
    """An exit code and the sentence to print."""

    code: int
    sentence: str


Explainer = Callable[[Any], "Failure | None"]
_EXPLAINERS: dict[str, Explainer] = {}


def explains(*class_names: str) -> Callable[[Explainer], Explainer]:
    """Register an explainer for exceptions of these classes (dotted `module.QualName`)."""

    def register(fn: Explainer) -> Explainer:
        for name in class_names:
            _EXPLAINERS[name] = fn
        return fn

    return register


def about(connection: str | None) -> None:
    """Say which connection the command works on (its name appears in failure sentences)."""
    CONNECTION.set(connection)


def explain(exc: BaseException) -> Failure:
    """The exit code and sentence for `exc` (exit 1 and a "this is a bug" sentence when unknown)."""
    for cls in type(exc).__mro__:
        fn = _EXPLAINERS.get(f"{cls.__module__}.{cls.__qualname__}")
        if fn is not None:
            found = fn(exc)
            if found is not None:
                return found
    return Failure(
        EXIT_WAITING,
        f"internal error ({type(exc).__name__}: {first_line(exc)}); this is a bug: run the command again "
        "with --log-level DEBUG to see where, and report it",
    )


def first_line(exc: BaseException, limit: int = 300) -> str:
    """The first line of an exception's message, at most `limit` characters (SQLAlchemy's own
    wrapper text and the SQL it carries are dropped: the driver's message is kept)."""
    inner = getattr(exc, "orig", None)
    text = str(inner if inner is not None else exc).strip()
    line = text.splitlines()[0].strip() if text else type(exc).__name__
    return line if len(line) <= limit else line[: limit - 1] + "…"


def _of_connection() -> str:
    name = CONNECTION.get()
    return f" (connection {name!r})" if name else ""


_SYSTEMS = {
    "starweb": "the Starweb shop",
    "visma": "Visma",
    "visma-identity": "Visma's identity server",
}


def _system(exc: Any) -> str:
    return _SYSTEMS.get(getattr(exc, "service", "") or "", getattr(exc, "service", "") or "the remote system")


def _again(exc: Any) -> str:
    service = getattr(exc, "service", "")
    if service == "starweb":
        return (
            "check the client id and secret in the shop's admin, then run `shopbridge connect starweb` again"
        )
    return "run `shopbridge connect visma` again"


# -- remote systems ---------------------------------------------------------------------------------
@explains("shopbridge.http.errors.TransportError")
def _unreachable(exc: Any) -> Failure:
    where = f" at {exc.url}" if getattr(exc, "url", "") else ""
    return Failure(
        EXIT_UNREACHABLE,
        f"{_system(exc)}{_of_connection()} could not be reached{where} ({exc.message}): check the address "
        "and your network, then try again",
    )


@explains("shopbridge.http.errors.RateLimitError")
def _rate_limited(exc: Any) -> Failure:
    return Failure(
        EXIT_UNREACHABLE,
        f"{_system(exc)}{_of_connection()} kept answering 429 (too many requests): wait a minute and "
        "try again",
    )


@explains("shopbridge.http.errors.ServerError")
def _server_error(exc: Any) -> Failure:
    return Failure(
        EXIT_UNREACHABLE,
        f"{_system(exc)}{_of_connection()} failed (HTTP {exc.status}: {exc.message}): try again later",
    )


@explains("shopbridge.http.errors.AuthenticationError")
def _auth(exc: Any) -> Failure:
    return Failure(
        EXIT_AUTH,
        f"{_system(exc)} refused the credentials{_of_connection()}: {exc.message}; {_again(exc)}",
    )


@explains("shopbridge.visma.oauth.InvalidClientError")
def _invalid_client(exc: Any) -> Failure:
    return Failure(
        EXIT_AUTH,
        f"Visma's identity server refused the client id or secret{_of_connection()} ({exc.message}): "
        "check them in the Visma developer portal; nothing was changed",
    )


@explains("shopbridge.visma.oauth.InvalidGrantError", "shopbridge.visma.oauth.NotConnectedError")
def _invalid_grant(exc: Any) -> Failure:
    return Failure(
        EXIT_AUTH,
        f"Visma refused the authorization{_of_connection()} ({exc.message}): the code or the stored "
        "refresh token is spent, expired or revoked; run `shopbridge connect visma` again",
    )


@explains("shopbridge.visma.oauth.StateMismatchError")
def _state(exc: Any) -> Failure:
    return Failure(
        EXIT_AUTH,
        "shopbridge refused the answer to the consent page: its state is not the one this command sent "
        "(an old or someone else's consent page); run `shopbridge connect visma` again and use the page "
        "it prints; nothing was changed",
    )


@explains("shopbridge.onboarding.ConsentRefused")
def _consent_refused(exc: Any) -> Failure:
    return Failure(EXIT_AUTH, f"{exc}; nothing was changed")


@explains("shopbridge.onboarding.ConsentTimeout")
def _consent_timeout(exc: Any) -> Failure:
    return Failure(EXIT_UNREACHABLE, str(exc))


@explains("shopbridge.http.errors.PermissionDeniedError")
def _forbidden(exc: Any) -> Failure:
    return Failure(
        EXIT_CONFIG,
        f"{_system(exc)} refused the request{_of_connection()} ({exc.message}): the company lacks a "
        "module or the consent a scope; `shopbridge doctor` says which",
    )


@explains("shopbridge.http.errors.NotFoundError")
def _not_found(exc: Any) -> Failure:
    where = f" {exc.method} {exc.path}".rstrip() if exc.path else ""
    return Failure(
        EXIT_CONFIG,
        f"{_system(exc)}{_of_connection()} does not know{where} ({exc.message}): check the base URL",
    )


@explains("shopbridge.http.errors.ApiError")
def _api(exc: Any) -> Failure:
    return Failure(EXIT_CONFIG, f"{_system(exc)}{_of_connection()} refused: {exc}")


@explains("httpx.UnsupportedProtocol", "httpx.InvalidURL", "httpx.LocalProtocolError")
def _bad_url(exc: Any) -> Failure:
    url = ""
    with contextlib.suppress(AttributeError, RuntimeError):
        url = str(exc.request.url)
    shown = f" {url!r}" if url else ""
    return Failure(
        EXIT_CONFIG,
        f"the address{shown}{_of_connection()} is not a URL shopbridge can call ({first_line(exc)}): give a "
        "full http:// or https:// address",
    )


# -- our own configuration errors ---------------------------------------------------------------------
@explains(
    "shopbridge.sync.context.NotConfigured",
    "shopbridge.store.connections.UnknownConnection",
    "shopbridge.store.connections.ConnectionExists",
    "shopbridge.store.crypto.SecretKeyError",
    "shopbridge.store.db.StoreError",
    "shopbridge.store.paths.DataDirError",
    "shopbridge.store.transfers.InvalidTransition",
    "shopbridge.sync.settings.SettingError",
    "shopbridge.plugins.errors.PluginError",
    "builtins.ValueError",
)
def _config(exc: Any) -> Failure:
    return Failure(EXIT_CONFIG, str(exc))


@explains("pydantic_core._pydantic_core.ValidationError")
def _invalid_model(exc: Any) -> Failure:
    errors = exc.errors()
    first = errors[0] if errors else {}
    where = ".".join(str(p) for p in first.get("loc", ())) or exc.title
    return Failure(
        EXIT_CONFIG,
        f"the stored settings{_of_connection()} are not valid: {where}: {first.get('msg', exc)}; change "
        "it with `shopbridge connection set` or `shopbridge connection unset`",
    )


# -- the database -------------------------------------------------------------------------------------
def _db() -> str:
    return DATABASE.get() or "the database"


@explains("sqlalchemy.exc.ArgumentError")
def _db_url(exc: Any) -> Failure:
    return Failure(
        EXIT_CONFIG,
        f"the database URL {_db()} cannot be read ({first_line(exc)}): give a SQLite file path or "
        "postgresql://user@host/database",
    )


@explains("sqlalchemy.exc.NoSuchModuleError")
def _db_kind(exc: Any) -> Failure:
    return Failure(
        EXIT_CONFIG,
        f"unsupported database {_db()}: use a SQLite file (the default) or postgresql://user@host/database",
    )


_PG_UNREACHABLE = re.compile(
    r"connection refused|could not connect|timeout|timed out|could not translate host|name or service|"
    r"no route to host|network is unreachable|server closed the connection|connection reset",
    re.I,
)


@explains("sqlalchemy.exc.DBAPIError")
def _db_error(exc: Any) -> Failure:
    text = first_line(exc)
    low = text.lower()
    db = _db()
    missing = re.search(r'database "([^"]+)" does not exist', text)
    if missing:
        name = missing.group(1)
        return Failure(
            EXIT_CONFIG,
            f'the database "{name}" does not exist ({db}): create it (createdb {name}) or correct '
            "--db / SHOPBRIDGE_DB",
        )
    if re.search(r"authentication failed|role .* does not exist|no password supplied", low):
        reason = text.rsplit("FATAL:", 1)[-1].strip()
        return Failure(EXIT_AUTH, f"the database refused the credentials in {db} ({reason}): correct the URL")
    if _PG_UNREACHABLE.search(low):
        return Failure(
            EXIT_UNREACHABLE,
            f"the database {db} could not be reached ({text}): start it or correct --db / SHOPBRIDGE_DB",
        )
    if "unable to open database file" in low:
        return Failure(
            EXIT_CONFIG,
            f"the SQLite file {db} cannot be opened: check that its directory exists and is writable",
        )
    if "file is not a database" in low or "malformed" in low:
        return Failure(EXIT_CONFIG, f"{db} is not a SQLite database shopbridge can read ({text})")
    if "readonly" in low or "read-only" in low:
        return Failure(EXIT_CONFIG, f"{db} is read-only: give shopbridge write access to it")
    if "locked" in low:
        return Failure(
            EXIT_UNREACHABLE, f"{db} stayed locked by another process ({text}): try again when it is done"
        )
    return Failure(EXIT_CONFIG, f"the database {db} refused: {text}")


@explains("builtins.ModuleNotFoundError", "builtins.ImportError")
def _missing_module(exc: Any) -> Failure | None:
    name = (getattr(exc, "name", "") or "").split(".")[0]
    if name in ("psycopg", "psycopg2", "psycopg_binary"):
        return Failure(
            EXIT_CONFIG,
            "PostgreSQL needs the psycopg driver: pip install 'shopbridge[postgres]' (SQLite needs nothing)",
        )
    return None


# -- the machine --------------------------------------------------------------------------------------
@explains("builtins.OSError")
def _os(exc: OSError) -> Failure | None:
    if exc.errno == errno.EADDRINUSE:
        return Failure(
            EXIT_CONFIG,
            f"{exc.strerror or 'the address is already in use'}: stop what listens there or choose "
            "another port with --port",
        )
    if exc.errno == errno.EADDRNOTAVAIL or (exc.errno is not None and exc.errno < 0):  # < 0: getaddrinfo
        return Failure(EXIT_CONFIG, f"{exc.strerror or exc}: give an address of this machine with --host")
    if exc.errno == errno.EADDRNOTAVAIL:
        return Failure(EXIT_CONFIG, f"{exc.strerror}: give an address of this machine with --host")
    if exc.errno == errno.EACCES and not exc.filename:
        return Failure(
            EXIT_CONFIG,
            f"{exc.strerror or 'permission denied'}: ports below 1024 need privileges; use --port",
        )
    if exc.filename:
        what = (exc.strerror or type(exc).__name__).lower()
        return Failure(
            EXIT_CONFIG,
            f"{exc.filename}: {what}: check the data directory (--data-dir / SHOPBRIDGE_HOME) and its "
            "permissions",
        )
    return None


@explains("builtins.TimeoutError")
def _timeout(exc: Any) -> Failure:
    return Failure(EXIT_UNREACHABLE, f"{first_line(exc)}: try again")
