"""`shopbridge sandbox starweb|visma`: run a local imitation of the Starweb or Visma API."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import typer

from shopbridge.sandbox.common import defaults as d
from shopbridge.sandbox.settings import FaultSettings, RateLimitSettings, SandboxSettings

sandbox_app = typer.Typer(
    name="sandbox",
    help="Run local sandbox servers that imitate the Starweb Shop API and the Visma eAccounting API.",
    no_args_is_help=True,
)

_SEEDS = ("demo", "empty")


def build_settings(
    *,
    host: str,
    port: int,
    seed: str,
    state: Path | None,
    client_id: str,
    client_secret: str,
    rate_limit: int,
    rate_window: float,
    latency_ms: float,
    error_rate: float,
    hang_rate: float,
    hang_s: float,
    reset_rate: float,
    fault_seed: int,
    token_ttl: float,
    shops: int = 1,
) -> SandboxSettings:
    """SandboxSettings from CLI options (checks ranges; raises typer.BadParameter)."""
    if seed not in _SEEDS:
        raise typer.BadParameter(f"--seed must be one of {', '.join(_SEEDS)}, got {seed!r}")
    for name, rate in (
        ("--error-rate", error_rate),
        ("--hang-rate", hang_rate),
        ("--reset-rate", reset_rate),
    ):
        if not 0.0 <= rate <= 1.0:
            raise typer.BadParameter(f"{name} must be between 0 and 1, got {rate}")
    if error_rate + hang_rate + reset_rate > 1.0:
        raise typer.BadParameter("--error-rate + --hang-rate + --reset-rate must not exceed 1")
    if rate_limit < 0 or rate_window <= 0:
        raise typer.BadParameter("--rate-limit must be >= 0 and --rate-window > 0")
    return SandboxSettings(
        client_id=client_id,
        client_secret=client_secret,
        seed=seed,
        state_file=state,
        rate_limit=RateLimitSettings(limit=rate_limit, window_s=rate_window, enabled=rate_limit > 0),
        faults=FaultSettings(
            seed=fault_seed,
            latency_ms=latency_ms,
            error_rate=error_rate,
            hang_rate=hang_rate,
            hang_s=hang_s,
            reset_rate=reset_rate,
        ),
        token_ttl_s=token_ttl,
        public_url=f"http://{_url_host(host)}:{port}",
        shops=shops,
    )


def _url_host(host: str) -> str:
    if host in ("0.0.0.0", ""):
        return "127.0.0.1"
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


def _create_app(service: str, settings: SandboxSettings) -> Any:
    module = importlib.import_module(f"shopbridge.sandbox.{service}.app")
    return module.create_app(settings)


def _secret_line(secret: str, default: str) -> str:
    return secret if secret == default else "(the value given with --client-secret)"


def _fault_line(settings: SandboxSettings) -> str | None:
    f = settings.faults
    parts = []
    if f.latency_ms:
        parts.append(f"latency {f.latency_ms:g} ms")
    if f.error_rate:
        parts.append(f"5xx {f.error_rate:.0%}")
    if f.hang_rate:
        parts.append(f"hang {f.hang_rate:.0%} ({f.hang_s:g} s)")
    if f.reset_rate:
        parts.append(f"reset {f.reset_rate:.0%}")
    return f"  faults:        {', '.join(parts)} (seed {f.seed})" if parts else None


def starweb_banner(settings: SandboxSettings) -> str:
    base = settings.public_url
    lines = [
        "Starweb sandbox (Shop API v2)",
        f"  API base URL:  {base}{d.STARWEB_API_PREFIX}",
        f"  token:         POST {base}{d.STARWEB_API_PREFIX}/token (client_credentials)",
        f"  client_id:     {settings.client_id}",
        f"  client_secret: {_secret_line(settings.client_secret, d.STARWEB_CLIENT_SECRET)}",
        f"  shops:         {settings.shops}",
        f"  rate limit:    {_limit_text(settings)}",
        f"  seed:          {settings.seed}"
        + (f", state file {settings.state_file}" if settings.state_file else ""),
        f"  admin:         {base}{d.ADMIN_PREFIX}/health | faults | ratelimit | stats",
    ]
    fault = _fault_line(settings)
    if fault:
        lines.append(fault)
    lines.append("Press Ctrl-C to stop.")
    return "\n".join(lines)


def visma_banner(settings: SandboxSettings) -> str:
    base = settings.public_url
    lines = [
        "Visma eAccounting sandbox (API v2)",
        f"  API base URL:  {base}{d.VISMA_API_PREFIX}",
        f"  identity:      {base}  (/connect/authorize, /connect/token)",
        f"  client_id:     {settings.client_id}",
        f"  client_secret: {_secret_line(settings.client_secret, d.VISMA_CLIENT_SECRET)}",
        f"  rate limit:    {_limit_text(settings)}",
        f"  seed:          {settings.seed}"
        + (f", state file {settings.state_file}" if settings.state_file else ""),
        f"  admin:         {base}{d.ADMIN_PREFIX}/health | faults | ratelimit | stats",
    ]
    fault = _fault_line(settings)
    if fault:
        lines.append(fault)
    lines.append("Press Ctrl-C to stop.")
    return "\n".join(lines)


def _limit_text(settings: SandboxSettings) -> str:
    rl = settings.rate_limit
    return f"{rl.limit} requests per {rl.window_s:g} s" if rl.enabled else "off"


# Shared options (typer needs them per command; defaults differ per service where noted).
_HOST = typer.Option(d.DEFAULT_HOST, "--host", help="Interface to listen on.")
_SEED = typer.Option("demo", "--seed", help="Initial data: demo or empty.")
_STATE = typer.Option(None, "--state", help="JSON file to keep state in across restarts.", dir_okay=False)
_RATE_WINDOW = typer.Option(60.0, "--rate-window", help="Rate-limit window in seconds.")
_LATENCY = typer.Option(0.0, "--latency-ms", help="Latency added to every API request.")
_ERROR_RATE = typer.Option(0.0, "--error-rate", help="Share of API requests answered 500/502/503.")
_HANG_RATE = typer.Option(0.0, "--hang-rate", help="Share of API requests that hang before the answer.")
_HANG_S = typer.Option(60.0, "--hang-s", help="How long a hanging request hangs (seconds).")
_RESET_RATE = typer.Option(0.0, "--reset-rate", help="Share of API requests whose connection is reset.")
_FAULT_SEED = typer.Option(0, "--fault-seed", help="Seed of the fault RNG (runs are reproducible).")
_TOKEN_TTL = typer.Option(3600.0, "--token-ttl", help="Access token lifetime in seconds.")


@sandbox_app.command("starweb")
def starweb(
    port: int = typer.Option(d.STARWEB_PORT, "--port", help="Port to listen on."),
    host: str = _HOST,
    seed: str = _SEED,
    state: Path | None = _STATE,
    client_id: str = typer.Option(d.STARWEB_CLIENT_ID, "--client-id"),
    client_secret: str = typer.Option(d.STARWEB_CLIENT_SECRET, "--client-secret"),
    rate_limit: int = typer.Option(
        d.STARWEB_RATE_LIMIT, "--rate-limit", help="Requests per window (0 = off)."
    ),
    rate_window: float = _RATE_WINDOW,
    latency_ms: float = _LATENCY,
    error_rate: float = _ERROR_RATE,
    hang_rate: float = _HANG_RATE,
    hang_s: float = _HANG_S,
    reset_rate: float = _RESET_RATE,
    fault_seed: int = _FAULT_SEED,
    token_ttl: float = _TOKEN_TTL,
    shops: int = typer.Option(1, "--shops", min=1, help="Number of shops to serve (multishop)."),
) -> None:
    """Run the Starweb Shop API v2 sandbox."""
    from shopbridge.sandbox.common.runner import free_port, serve

    port = port or free_port(host)

    settings = build_settings(
        host=host,
        port=port,
        seed=seed,
        state=state,
        client_id=client_id,
        client_secret=client_secret,
        rate_limit=rate_limit,
        rate_window=rate_window,
        latency_ms=latency_ms,
        error_rate=error_rate,
        hang_rate=hang_rate,
        hang_s=hang_s,
        reset_rate=reset_rate,
        fault_seed=fault_seed,
        token_ttl=token_ttl,
        shops=shops,
    )
    serve(_create_app("starweb", settings), host, port, banner=starweb_banner(settings))


@sandbox_app.command("visma")
def visma(
    port: int = typer.Option(d.VISMA_PORT, "--port", help="Port to listen on."),
    host: str = _HOST,
    seed: str = _SEED,
    state: Path | None = _STATE,
    client_id: str = typer.Option(d.VISMA_CLIENT_ID, "--client-id"),
    client_secret: str = typer.Option(d.VISMA_CLIENT_SECRET, "--client-secret"),
    rate_limit: int = typer.Option(d.VISMA_RATE_LIMIT, "--rate-limit", help="Requests per window (0 = off)."),
    rate_window: float = _RATE_WINDOW,
    latency_ms: float = _LATENCY,
    error_rate: float = _ERROR_RATE,
    hang_rate: float = _HANG_RATE,
    hang_s: float = _HANG_S,
    reset_rate: float = _RESET_RATE,
    fault_seed: int = _FAULT_SEED,
    token_ttl: float = _TOKEN_TTL,
) -> None:
    """Run the Visma eAccounting API v2 sandbox (API and identity server on one port)."""
    from shopbridge.sandbox.common.runner import free_port, serve

    port = port or free_port(host)

    settings = build_settings(
        host=host,
        port=port,
        seed=seed,
        state=state,
        client_id=client_id,
        client_secret=client_secret,
        rate_limit=rate_limit,
        rate_window=rate_window,
        latency_ms=latency_ms,
        error_rate=error_rate,
        hang_rate=hang_rate,
        hang_s=hang_s,
        reset_rate=reset_rate,
        fault_seed=fault_seed,
        token_ttl=token_ttl,
    )
    serve(_create_app("visma", settings), host, port, banner=visma_banner(settings))
