"""Secrets are encrypted at rest; the key file is 0600; a lost key is refused, never silently replaced."""

from __future__ import annotations

import os
import stat

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import text

from shopbridge.store import SecretKeyError, ensure_key_file, open_store
from store_backends import BACKENDS, store_for_test

PLAIN = "refresh-token-PLAINTEXT-7f3a9c"


@pytest.fixture(autouse=True)
def _no_env_key(monkeypatch):
    monkeypatch.delenv("SHOPBRIDGE_KEY", raising=False)


@pytest.fixture(params=BACKENDS)
def store(request, tmp_path):
    with store_for_test(request.param, tmp_path) as s:
        yield s


def test_put_get_roundtrip_and_replace_atomically(store):
    c = store.connections.create("shop")
    assert store.secrets.get(c.id, "visma_tokens") is None
    store.secrets.put(c.id, "visma_tokens", {"access_token": "a1", "refresh_token": "r1", "expires_at": 1})
    store.secrets.put(c.id, "starweb_client_secret", "s3cret")
    store.secrets.put(c.id, "visma_tokens", {"access_token": "a2", "refresh_token": "r2", "expires_at": 2})
    assert store.secrets.get(c.id, "visma_tokens") == {
        "access_token": "a2",
        "refresh_token": "r2",
        "expires_at": 2,
    }
    assert store.secrets.get(c.id, "starweb_client_secret") == "s3cret"
    assert store.secrets.kinds(c.id) == ["starweb_client_secret", "visma_tokens"]
    with store.engine.connect() as conn:  # one row per kind: the pair is never split
        n = conn.execute(text("SELECT count(*) FROM secrets WHERE kind = 'visma_tokens'")).scalar()
    assert n == 1
    assert store.secrets.delete(c.id, "starweb_client_secret")
    with pytest.raises(TypeError):
        store.secrets.put(c.id, "x", 42)


def test_ciphertext_in_the_database_hides_the_plaintext(store):
    c = store.connections.create("shop")
    store.secrets.put(c.id, "visma_tokens", {"refresh_token": PLAIN})
    with store.engine.connect() as conn:
        raw = bytes(conn.execute(text("SELECT ciphertext FROM secrets")).scalar())
    assert PLAIN.encode() not in raw
    assert b"refresh_token" not in raw
    assert PLAIN.encode() in store.cipher().decrypt(raw)


def test_sqlite_file_bytes_do_not_contain_the_plaintext(tmp_path):
    store = open_store(data_dir=tmp_path)
    c = store.connections.create("shop")
    store.secrets.put(c.id, "visma_tokens", {"refresh_token": PLAIN})
    store.secrets.put(c.id, "starweb_client_secret", PLAIN)
    store.close()
    files = [p for p in tmp_path.iterdir() if p.name.startswith("shopbridge.sqlite")]
    assert files
    for p in files:  # the database, and its WAL if any is left
        assert PLAIN.encode() not in p.read_bytes(), p.name


def test_key_file_created_with_mode_0600_and_reused(tmp_path):
    store = open_store(data_dir=tmp_path)
    store.ensure_key()
    key_file = tmp_path / "secret.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    c = store.connections.create("shop")
    store.secrets.put(c.id, "t", "v")
    store.close()
    with open_store(data_dir=tmp_path) as again:
        assert again.secrets.get(c.id, "t") == "v"
    assert ensure_key_file(tmp_path) == key_file  # init on an existing key leaves it alone


def test_key_file_mode_ignores_a_permissive_umask(tmp_path):
    old = os.umask(0)
    try:
        path = ensure_key_file(tmp_path / "d")
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_env_key_wins_and_no_file_is_written(tmp_path, monkeypatch):
    key = Fernet.generate_key().decode()
    monkeypatch.setenv("SHOPBRIDGE_KEY", key)
    with open_store(data_dir=tmp_path) as store:
        c = store.connections.create("shop")
        store.secrets.put(c.id, "t", "v")
        with store.engine.connect() as conn:
            raw = bytes(conn.execute(text("SELECT ciphertext FROM secrets")).scalar())
    assert not (tmp_path / "secret.key").exists()
    assert Fernet(key).decrypt(raw) == b'"v"'


def test_key_rotation_with_two_env_keys(tmp_path, monkeypatch):
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    monkeypatch.setenv("SHOPBRIDGE_KEY", old)
    with open_store(data_dir=tmp_path) as store:
        c = store.connections.create("shop")
        store.secrets.put(c.id, "t", "v")
    monkeypatch.setenv("SHOPBRIDGE_KEY", f"{new},{old}")
    with open_store(data_dir=tmp_path) as store:
        assert store.secrets.get(c.id, "t") == "v"
        assert store.secrets.rotate_all() == 1
    monkeypatch.setenv("SHOPBRIDGE_KEY", new)
    with open_store(data_dir=tmp_path) as store:
        assert store.secrets.get(c.id, "t") == "v"


def test_wrong_or_lost_key_is_refused_in_plain_words(tmp_path, monkeypatch):
    with open_store(data_dir=tmp_path) as store:
        c = store.connections.create("shop")
        store.secrets.put(c.id, "t", "v")
    (tmp_path / "secret.key").unlink()
    with open_store(data_dir=tmp_path) as store, pytest.raises(SecretKeyError, match="key is missing"):
        store.secrets.get(c.id, "t")
    assert not (tmp_path / "secret.key").exists()  # no new key that could never decrypt them
    monkeypatch.setenv("SHOPBRIDGE_KEY", Fernet.generate_key().decode())
    with open_store(data_dir=tmp_path) as store, pytest.raises(SecretKeyError, match="cannot be decrypted"):
        store.secrets.get(c.id, "t")
    monkeypatch.setenv("SHOPBRIDGE_KEY", "not-a-key")
    with open_store(data_dir=tmp_path) as store, pytest.raises(SecretKeyError, match="not a valid"):
        store.secrets.get(c.id, "t")


def test_secrets_go_with_their_connection(store):
    c = store.connections.create("shop")
    store.secrets.put(c.id, "t", "v")
    store.connections.delete(c.id)
    assert store.secrets.get(c.id, "t") is None
