"""One process, one port: uvicorn serves the web app inside the engine's asyncio loop.

`serve_engine` binds the socket itself (a busy port raises `OSError` here instead of uvicorn calling
`sys.exit`), runs `uvicorn.Server.serve()` and `Engine.run()` as two tasks of the same loop, and on
`stop` closes the server (new hooks are refused; Starweb resends them later) while the engine lets
its running sweeps finish. Signals are the caller's business (`run_server` installs them), so uvicorn
is told not to take SIGTERM/SIGINT over. Uvicorn's access log is off: it would print the hook
secret that sits in the URL path; the app logs requests with the secret redacted.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Callable, Generator
from typing import Any

import structlog
import uvicorn

from shopbridge.engine.runner import Engine, run_until_signal

log = structlog.get_logger("shopbridge.web")


class EmbeddedServer(uvicorn.Server):
    """A uvicorn server that leaves signal handling to the process that embeds it."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield

    def install_signal_handlers(self) -> None:  # uvicorn < 0.29
        return None


def bind_socket(host: str = "127.0.0.1", port: int = 0) -> socket.socket:
    """A listening TCP socket on `host:port` (0 = any free port); raises OSError when taken."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(1024)
        sock.setblocking(False)
    except OSError as exc:
        sock.close()
        raise OSError(exc.errno, f"{host}:{port}: {(exc.strerror or str(exc)).lower()}") from exc
    return sock


async def serve_engine(
    engine: Engine,
    app: Any,
    host: str = "127.0.0.1",
    port: int = 8080,
    stop: asyncio.Event | None = None,
    *,
    sock: socket.socket | None = None,
    on_ready: Callable[[int], None] | None = None,
    log_level: str = "warning",
    graceful_shutdown_s: float = 5.0,
    extra: list[tuple[Any, socket.socket]] | None = None,
) -> None:
    """Serve `app` and run `engine` in this loop until `stop` is set (or either of them ends).

    Pass `sock` (from `bind_socket`) to serve on a socket bound beforehand; `on_ready(port)` is
    called once the server accepts requests. `extra`: further (app, bound socket) pairs served
    alongside (the operations port). Returns after all have shut down cleanly; an exception from
    any is re-raised.
    """
    stop = stop or asyncio.Event()
    own_sock = sock is None
    sock = sock or bind_socket(host, port)
    bound_port = int(sock.getsockname()[1])

    def server_for(served: Any) -> EmbeddedServer:
        return EmbeddedServer(
            uvicorn.Config(
                served,
                log_config=None,  # keep the process's logging setup
                log_level=log_level,
                access_log=False,  # the path holds the hook secret
                lifespan="off",
                timeout_graceful_shutdown=graceful_shutdown_s,
                server_header=False,
            )
        )

    server = server_for(app)
    others = [(server_for(a), s) for a, s in extra or []]
    server_task = asyncio.create_task(server.serve(sockets=[sock]), name="shopbridge-web")
    other_tasks = [asyncio.create_task(o.serve(sockets=[s]), name="shopbridge-ops") for o, s in others]
    engine_task = asyncio.create_task(engine.run(stop), name="shopbridge-engine")
    stop_wait = asyncio.create_task(stop.wait())
    cancelled = False
    servers = [server, *(o for o, _ in others)]
    server_tasks = [server_task, *other_tasks]
    try:
        while (
            not all(x.started for x in servers)
            and not any(t.done() for t in server_tasks)
            and not stop.is_set()
        ):
            await asyncio.sleep(0.005)
        if all(x.started for x in servers):
            log.info("web.listening", host=sock.getsockname()[0], port=bound_port)
            if on_ready is not None:
                on_ready(bound_port)
        await asyncio.wait({stop_wait, engine_task, *server_tasks}, return_when=asyncio.FIRST_COMPLETED)
    except asyncio.CancelledError:  # forced exit: don't wait for sweeps or open requests
        cancelled = True
        for x in servers:
            x.force_exit = True
        engine_task.cancel()
        for t in server_tasks:
            t.cancel()
    finally:
        if not stop.is_set() and not cancelled:
            log.warning(
                "web.unexpected_end",
                ended="server"
                if any(t.done() for t in server_tasks)
                else "engine"
                if engine_task.done()
                else "caller",
            )
        stop.set()
        for x in servers:
            x.should_exit = True
        results = await asyncio.gather(*server_tasks, engine_task, return_exceptions=True)
        stop_wait.cancel()
        if own_sock:
            with contextlib.suppress(OSError):
                sock.close()
    if cancelled:
        raise asyncio.CancelledError
    for result in results:
        if isinstance(result, BaseException) and not isinstance(result, asyncio.CancelledError):
            raise result


def run_server(engine: Engine, app: Any, host: str = "127.0.0.1", port: int = 8080, **kw: Any) -> None:
    """`shopbridge run`: serve and sweep in a new loop until SIGTERM/SIGINT (twice forces exit)."""
    sock = bind_socket(host, port)  # fail early and clearly when the port is taken
    try:
        run_until_signal(lambda stop: serve_engine(engine, app, host, port, stop, sock=sock, **kw))
    finally:
        sock.close()
