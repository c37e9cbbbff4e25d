"""The command line as a script uses it: real processes, real sandboxes, meaningful exit codes."""

from __future__ import annotations

import os
import re
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from shopbridge.demo import start_sandboxes
from shopbridge.sandbox.common import defaults as d


@pytest.fixture(scope="module")
def sandboxes() -> Any:
    starweb, visma = start_sandboxes(starweb_limit=20000)
    yield starweb, visma
    starweb.stop()
    visma.stop()


def cli(home: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    environ = {**os.environ, "SHOPBRIDGE_HOME": str(home), "COLUMNS": "200", **(env or {})}
    cmd = [sys.executable, "-m", "shopbridge", *args]
    return subprocess.run(cmd, env=environ, capture_output=True, text=True, timeout=240)


def connect_shop(home: Path, starweb: Any, *secret: str, env: dict[str, str] | None = None) -> Any:
    """`shopbridge connect starweb` for connection "shop"; `secret` is ("--client-secret", value) or empty."""
    base = ("--name", "shop", "--base-url", f"{starweb.url}/api/v2", "--client-id", d.STARWEB_CLIENT_ID)
    return cli(home, "connect", "starweb", *base, *secret, env=env)


def test_init_makes_a_private_key_and_a_database(tmp_path: Path) -> None:
    out = cli(tmp_path, "init")
    assert out.returncode == 0, out.stderr
    key = tmp_path / "secret.key"
    assert key.exists() and stat.S_IMODE(key.stat().st_mode) == 0o600
    assert (tmp_path / "shopbridge.sqlite").exists()


def test_wrong_starweb_secret_is_exit_3_and_nothing_is_stored(tmp_path: Path, sandboxes: Any) -> None:
    starweb, _ = sandboxes
    out = connect_shop(tmp_path, starweb, "--client-secret", "wrong")
    assert out.returncode == 3, out.stdout + out.stderr
    assert "refused the credentials" in out.stdout
    assert "wrong" not in out.stdout + out.stderr
    listed = cli(tmp_path, "connection", "list")
    assert "│ shop" not in listed.stdout


def test_whole_journey_connect_consent_sync_list_show_retry(tmp_path: Path, sandboxes: Any) -> None:
    starweb, visma = sandboxes
    ok = connect_shop(tmp_path, starweb, env={"STARWEB_CLIENT_SECRET": d.STARWEB_CLIENT_SECRET})
    assert ok.returncode == 0, ok.stdout + ok.stderr

    # Visma: the CLI prints the consent URL and waits on its callback; "the user" opens the URL.
    environ = {**os.environ, "SHOPBRIDGE_HOME": str(tmp_path), "VISMA_CLIENT_SECRET": d.VISMA_CLIENT_SECRET}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "shopbridge",
            "connect",
            "visma",
            "--connection",
            "shop",
            "--client-id",
            d.VISMA_CLIENT_ID,
            "--identity-url",
            visma.url,
            "--api-base",
            f"{visma.url}/v2",
            "--no-browser",
            "--port",
            "0",
            "--timeout",
            "60",
        ],
        env={**environ, "COLUMNS": "1000"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    url = ""
    deadline = time.monotonic() + 30
    while not url and time.monotonic() < deadline:
        line = proc.stdout.readline()
        m = re.search(r"(http://\S+/connect/authorize\S+)", line)
        url = m.group(1) if m else ""
    assert url, "no consent URL printed"
    httpx.get(url, follow_redirects=True, timeout=30)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, out + err
    assert "authorised" in out
    assert d.VISMA_CLIENT_SECRET not in out + err

    assert cli(tmp_path, "connection", "set", "shop", "missing_article", "wait").returncode == 0
    assert cli(tmp_path, "connection", "set", "shop", "no_such_setting", "x").returncode == 2
    assert cli(tmp_path, "connection", "set", "shop", "document_type", "fax").returncode == 2
    shown = cli(tmp_path, "connection", "show", "shop")
    assert "missing_article" in shown.stdout and d.STARWEB_CLIENT_SECRET not in shown.stdout

    synced = cli(tmp_path, "sync", "--once")
    assert synced.returncode == 1, synced.stdout + synced.stderr  # some demo orders wait for a fix
    assert "does not exist in Visma" in synced.stdout

    listed = cli(tmp_path, "orders", "list", "--state", "waiting_for_fix", "--limit", "5")
    assert listed.returncode == 0 and "waiting_for_fix" in listed.stdout
    number = re.search(r"│ shop\s+│ (\d+)", listed.stdout).group(1)
    shown = cli(tmp_path, "orders", "show", number)
    assert shown.returncode == 0 and "why:" in shown.stdout and "waiting_for_fix" in shown.stdout

    assert cli(tmp_path, "connection", "set", "shop", "missing_article", "create").returncode == 0
    assert cli(tmp_path, "orders", "retry").returncode == 2  # no terminal to ask: it refuses, naming --all
    retried = cli(tmp_path, "orders", "retry", "--all", "--now")
    assert "will be taken again" in retried.stdout
    transferred = cli(tmp_path, "orders", "list", "--state", "transferred", "--limit", "1")
    assert "transferred" in transferred.stdout
    assert cli(tmp_path, "orders", "show", "999999").returncode == 2
