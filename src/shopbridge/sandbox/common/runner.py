"""Run a sandbox app with uvicorn: in the foreground (`serve`) or in a thread (`start_in_thread`)."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from typing import Any

import uvicorn

from shopbridge.sandbox.common.defaults import DEFAULT_HOST


def free_port(host: str = DEFAULT_HOST) -> int:
    """A TCP port that is free right now on `host`."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def serve(app: Any, host: str = DEFAULT_HOST, port: int = 0, *, banner: str | None = None) -> None:
    """Print `banner` (if any) and serve `app` in the foreground until Ctrl-C (uvicorn, log level warning).

    The socket is bound first, so a busy port is an `OSError` the CLI explains (exit 2), not uvicorn's
    exit status 3."""
    from shopbridge.web.server import bind_socket

    sock = bind_socket(host, port)
    if banner:
        print(banner, flush=True)
    config = uvicorn.Config(app, log_level="warning", timeout_graceful_shutdown=2)
    try:
        uvicorn.Server(config).run(sockets=[sock])
    finally:
        sock.close()


class RunningServer:
    """A uvicorn server running in a background thread; use `.url`, then `.stop()` (or `with`)."""

    def __init__(self, server: uvicorn.Server, thread: threading.Thread, host: str, port: int) -> None:
        self.server = server
        self.thread = thread
        self.host = host
        self.port = port
        self.url = f"http://{host}:{port}"

    @property
    def app(self) -> Any:
        return self.server.config.app

    def stop(self, timeout: float = 5.0) -> None:
        """Ask the server to exit and wait for its thread (forces exit after `timeout` seconds)."""
        if not self.thread.is_alive():
            return
        self.server.should_exit = True
        self.thread.join(timeout)
        if self.thread.is_alive():
            self.server.force_exit = True
            self.thread.join(timeout)

    def __enter__(self) -> RunningServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"RunningServer({self.url})"


def start_in_thread(
    app: Any,
    host: str = DEFAULT_HOST,
    port: int = 0,
    *,
    startup_timeout: float = 10.0,
    graceful_shutdown_s: float = 1.0,
) -> RunningServer:
    """Start a real uvicorn server for `app` on `host:port` (0 = a free port) in a daemon thread.

    Returns once the server accepts connections. Open requests get `graceful_shutdown_s` to
    finish when stopping (hanging requests are then cancelled).
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    sock.listen(128)
    sock.set_inheritable(True)
    actual_port = int(sock.getsockname()[1])
    config = uvicorn.Config(
        app,
        log_level="warning",
        lifespan="auto",
        timeout_graceful_shutdown=graceful_shutdown_s,
        access_log=False,
    )
    server = uvicorn.Server(config)
    errors: list[BaseException] = []

    def run() -> None:
        try:
            server.run(sockets=[sock])
        except BaseException as exc:  # report startup failures to the caller
            errors.append(exc)
        finally:
            with contextlib.suppress(OSError):
                sock.close()

    thread = threading.Thread(target=run, name=f"sandbox-{actual_port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + startup_timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            thread.join(2.0)
            raise RuntimeError(f"sandbox server did not start on {host}:{actual_port}: {errors or 'timeout'}")
        time.sleep(0.005)
    return RunningServer(server, thread, host, actual_port)
