"""The compose stack starts with one command and answers /healthz (needs a Docker engine).

Where Docker is not usable (no engine, as on the development machines) this is skipped with that
reason; the same processes (worker, scheduler, web, db upgrade) are tested without Docker in
tests/test_cluster.py.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import uuid
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[1]


def docker_unusable() -> str | None:
    if shutil.which("docker") is None:
        return "Docker is not installed"
    probe = subprocess.run(["docker", "info"], capture_output=True, text=True, timeout=30)
    if probe.returncode != 0:
        return "Docker is not usable here (no engine answers `docker info`)"
    if subprocess.run(["docker", "compose", "version"], capture_output=True, timeout=30).returncode != 0:
        return "Docker Compose is not installed"
    return None


def test_compose_stack_starts_and_is_healthy() -> None:
    reason = docker_unusable()
    if reason:
        pytest.skip(reason)
    from cryptography.fernet import Fernet

    project = f"sbsmoke{uuid.uuid4().hex[:6]}"
    port = "18100"
    env = {**os.environ, "SHOPBRIDGE_KEY": Fernet.generate_key().decode(), "SHOPBRIDGE_PORT": port}
    compose = ["docker", "compose", "-p", project, "-f", str(ROOT / "compose.yaml")]
    try:
        subprocess.run(
            [*compose, "up", "-d", "--build", "--scale", "worker=2"], env=env, check=True, timeout=900
        )
        deadline = time.monotonic() + 180
        while True:
            try:
                r = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5)
                if r.status_code == 200 and r.json().get("ok"):
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, subprocess.run(
                [*compose, "logs"], env=env, capture_output=True, text=True
            ).stdout[-4000:]
            time.sleep(2)
        ps = subprocess.run(
            [*compose, "ps", "--format", "{{.Service}} {{.State}}"], env=env, capture_output=True, text=True
        )
        running = [line for line in ps.stdout.splitlines() if line.endswith("running")]
        assert sum(1 for line in running if line.startswith("worker")) == 2, ps.stdout
        assert any(line.startswith("scheduler") for line in running), ps.stdout
    finally:
        subprocess.run([*compose, "down", "-v"], env=env, timeout=300)
