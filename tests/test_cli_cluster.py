"""`shopbridge db upgrade|status`, `shopbridge keys new|rotate`, and the cluster processes refusing a
database at another schema version. Real processes on a real SQLite file."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from alembic import command
from cryptography.fernet import Fernet

from shopbridge.store import open_store
from shopbridge.store.db import _alembic_config, create_store_engine, head_revision, to_url


def sb(data: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if k not in ("SHOPBRIDGE_KEY", "SHOPBRIDGE_DB")}
    environ.update(env or {})
    cmd = [sys.executable, "-m", "shopbridge", "--data-dir", str(data), *args]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=environ)
    done.stdout = " ".join(done.stdout.split())  # the console wraps long sentences
    return done


def test_db_upgrade_then_status_and_processes_refuse_an_old_schema(tmp_path: Path) -> None:
    engine = create_store_engine(to_url(tmp_path))
    with engine.begin() as conn:
        command.upgrade(_alembic_config(conn), "0004")  # an older release's database
    engine.dispose()
    status = sb(tmp_path, "db", "status")
    assert status.returncode == 1 and "0004" in status.stdout
    worker = sb(tmp_path, "worker")
    assert worker.returncode == 2 and "shopbridge db upgrade" in worker.stdout, worker.stdout + worker.stderr
    up = sb(tmp_path, "db", "upgrade")
    assert up.returncode == 0 and f"to {head_revision()}" in up.stdout, up.stdout + up.stderr
    again = sb(tmp_path, "db", "upgrade")
    assert again.returncode == 0 and "up to date" in again.stdout
    assert sb(tmp_path, "db", "status").returncode == 0


def test_keys_rotate_with_the_key_file(tmp_path: Path) -> None:
    store = open_store(data_dir=tmp_path)
    c = store.connections.create("shop")
    store.secrets.put(c.id, "visma_tokens", {"refresh_token": "r1"})
    store.close()
    old = (tmp_path / "secret.key").read_bytes().split()
    r = sb(tmp_path, "keys", "rotate")
    assert r.returncode == 0 and "1 secrets re-encrypted" in r.stdout, r.stdout + r.stderr
    keys = (tmp_path / "secret.key").read_bytes().split()
    assert len(keys) == 2 and keys[1:] == old  # the new key first, the old one still decrypts
    r = sb(tmp_path, "keys", "rotate", "--forget-old")
    assert r.returncode == 0, r.stdout + r.stderr
    assert (tmp_path / "secret.key").read_bytes().split() == keys[:1]
    store = open_store(data_dir=tmp_path)
    assert store.secrets.get(c.id, "visma_tokens") == {
        "refresh_token": "r1"
    }  # readable with the new key alone
    store.close()


def test_keys_rotate_with_the_environment_variable(tmp_path: Path) -> None:
    old = Fernet.generate_key()
    store = open_store(data_dir=tmp_path, key=old)
    c = store.connections.create("shop")
    store.secrets.put(c.id, "starweb", {"client_secret": "s"})
    store.close()
    new = sb(tmp_path, "keys", "new").stdout.strip().encode()
    both = f"{new.decode()},{old.decode()}"
    r = sb(tmp_path, "keys", "rotate", env={"SHOPBRIDGE_KEY": both})
    assert r.returncode == 0 and "1 secrets re-encrypted" in r.stdout, r.stdout + r.stderr
    store = open_store(data_dir=tmp_path, key=new)
    assert store.secrets.get(c.id, "starweb") == {"client_secret": "s"}
    store.close()
