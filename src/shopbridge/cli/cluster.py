"""`shopbridge worker`, `shopbridge scheduler`, `shopbridge web`: the scale-out processes.

Each opens the store without migrating it (`shopbridge db upgrade` does that, once, before the new
version starts) and refuses to start on a database at another schema version. See
`engine/cluster.py` for how they work together and `docs/deploy.md` for running them.
"""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer

from shopbridge.cli.ui import EXIT_CONFIG, EXIT_UNREACHABLE, _opts, console, fail

BROKER_OPTION = typer.Option(envvar="SHOPBRIDGE_BROKER_URL", help="Celery broker (RabbitMQ) URL")
REDIS_OPTION = typer.Option(envvar="SHOPBRIDGE_REDIS_URL", help="Redis URL (shared limits, queue marks)")


def cluster_store():
    """The store named by --db / --data-dir, at the schema this version expects (never migrated here)."""
    from shopbridge.store import StoreError, open_store
    from shopbridge.store.db import current_revision, head_revision

    try:
        s = open_store(_opts.get("db"), data_dir=_opts.get("data_dir"), migrate_db=False)
        current, head = current_revision(s.engine), head_revision()
    except StoreError as exc:
        raise fail(str(exc)) from None
    except Exception as exc:  # the database cannot be reached
        raise fail(f"the database could not be reached: {type(exc).__name__}", EXIT_UNREACHABLE) from None
    if current != head:
        s.close()
        raise fail(
            f"the database is at schema {current or 'none'} and this version needs {head}: "
            "run `shopbridge db upgrade` once, then start the processes",
            EXIT_CONFIG,
        )
    return s


def _services(broker: str | None, redis: str | None) -> None:
    import os

    if broker:
        os.environ["SHOPBRIDGE_BROKER_URL"] = broker
    if redis:
        os.environ["SHOPBRIDGE_REDIS_URL"] = redis
    else:  # the cluster always shares its rate limits: default to the local Redis
        from shopbridge.engine.cluster import redis_url

        os.environ.setdefault("SHOPBRIDGE_REDIS_URL", redis_url())
    _reachable()


def _reachable() -> None:
    """The broker and Redis answer, or one sentence and exit 4 (a wrong URL: exit 2)."""
    from urllib.parse import urlsplit

    from kombu import Connection

    from shopbridge.engine.cluster import broker_url, redis_url
    from shopbridge.http.ratelimit import redis_client

    for what, url in (("Redis", redis_url()), ("the broker", broker_url())):
        where = urlsplit(url).hostname or url  # never the password
        try:
            if what == "Redis":
                redis_client(url).ping()
            else:
                with Connection(url, connect_timeout=5) as conn:
                    conn.ensure_connection(max_retries=1)
        except ValueError as exc:
            raise fail(f"{what} URL is not usable: {exc}") from None
        except Exception as exc:
            port = urlsplit(url).port
            raise fail(
                f"{what} at {where}{f':{port}' if port else ''} could not be reached "
                f"({type(exc).__name__}): start it or pass its URL",
                EXIT_UNREACHABLE,
            ) from None


def _queue():
    from shopbridge.engine.cluster import SweepQueue, celery_app, redis_url
    from shopbridge.http.ratelimit import redis_client

    return SweepQueue(celery_app(), redis_client(redis_url()))


def worker(
    concurrency: Annotated[int, typer.Option(min=1, help="Sweeps this process runs at once")] = 4,
    timeout: Annotated[
        float, typer.Option(min=1.0, help="Seconds before a call to Starweb or Visma gives up")
    ] = 30.0,
    broker: Annotated[str | None, BROKER_OPTION] = None,
    redis: Annotated[str | None, REDIS_OPTION] = None,
) -> None:
    """A Celery worker: sweeps connections as the scheduler and web hooks ask (any number of them)."""
    from shopbridge.engine.cluster import run_worker

    _services(broker, redis)
    s = cluster_store()
    console.print(f"worker: {concurrency} sweeps at once on {s.url}")
    run_worker(s, concurrency=concurrency, visma_timeout=timeout, starweb_timeout=timeout)


def scheduler(
    tick: Annotated[float, typer.Option(min=0.1, help="Seconds between looks for due sweeps")] = 1.0,
    interval: Annotated[
        float | None, typer.Option(min=1.0, help="Seconds between sweeps (default: per connection)")
    ] = None,
    broker: Annotated[str | None, BROKER_OPTION] = None,
    redis: Annotated[str | None, REDIS_OPTION] = None,
) -> None:
    """Enqueue each connection's sweep on its schedule; safe to run twice (one leads, one waits)."""
    from shopbridge.engine.cluster import run_scheduler
    from shopbridge.engine.runner import run_until_signal

    _services(broker, redis)
    s = cluster_store()
    queue = _queue()
    console.print("scheduler: waiting for the lead")
    run_until_signal(
        lambda stop: run_scheduler(
            s, queue, stop, tick_s=tick, interval_s=interval, on_leader=lambda: console.print("leading")
        )
    )


def web(
    host: Annotated[str, typer.Option(help="Listen address")] = "127.0.0.1",
    port: Annotated[int, typer.Option()] = 8100,
    public_url: Annotated[
        str | None, typer.Option(envvar="SHOPBRIDGE_PUBLIC_URL", help="Where Starweb and browsers reach this")
    ] = None,
    broker: Annotated[str | None, BROKER_OPTION] = None,
    redis: Annotated[str | None, REDIS_OPTION] = None,
) -> None:
    """The portal, web hooks, the OAuth callback, /healthz and /metrics; a hook enqueues one sweep."""
    from shopbridge.engine.cluster import run_web

    _services(broker, redis)
    s = cluster_store()
    queue = _queue()

    def ready(bound: int) -> None:
        console.print(f"web listening on http://{host}:{bound} (/healthz, /metrics, web hooks)")

    try:
        asyncio.run(run_web(s, queue, host=host, port=port, on_ready=ready, public_url=public_url))
    except OSError as exc:
        raise fail(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
