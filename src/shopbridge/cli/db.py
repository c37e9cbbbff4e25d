"""`shopbridge db upgrade` and `shopbridge db status`: the schema, changed once per release.

Migrations hold a PostgreSQL advisory lock, so two upgrades started at once run one after the
other; the cluster's processes never migrate (they refuse to start on another schema version).
"""

from __future__ import annotations

import typer

from shopbridge.cli.ui import EXIT_UNREACHABLE, _opts, console, fail

db_app = typer.Typer(help="The database schema: upgrade it, show where it stands.", no_args_is_help=True)


def _engine():
    from shopbridge.store.db import create_store_engine, to_url
    from shopbridge.store.paths import db_path

    data_dir, db = _opts.get("data_dir"), _opts.get("db")
    return create_store_engine(to_url(db if db else (db_path(data_dir) if data_dir else None)))


@db_app.command()
def upgrade() -> None:
    """Apply every migration this version has (idempotent; one process at a time)."""
    from shopbridge.store import StoreError
    from shopbridge.store.db import current_revision, head_revision, migrate

    engine = _engine()
    try:
        before = current_revision(engine)
        migrate(engine)
        after = current_revision(engine)
    except StoreError as exc:
        raise fail(str(exc)) from None
    except Exception as exc:
        raise fail(
            f"the database could not be upgraded: {type(exc).__name__}: {exc}", EXIT_UNREACHABLE
        ) from None
    finally:
        engine.dispose()
    if before == after:
        console.print(f"the database is up to date (schema {after})")
    else:
        console.print(
            f"the database was upgraded from schema {before or 'none'} to {after} (newest: {head_revision()})"
        )


@db_app.command()
def status() -> None:
    """The schema version of the database and the one this version of shopbridge expects."""
    from shopbridge.store.db import current_revision, head_revision

    engine = _engine()
    try:
        current = current_revision(engine)
    except Exception as exc:
        raise fail(f"the database could not be reached: {type(exc).__name__}", EXIT_UNREACHABLE) from None
    finally:
        engine.dispose()
    head = head_revision()
    console.print(f"database schema {current or 'none'}; this version needs {head}")
    if current != head:
        raise typer.Exit(1)
