"""Secrets at rest: Fernet encryption, the key, and the ``secrets`` table API.

The key comes from ``SHOPBRIDGE_KEY`` (one Fernet key, or several separated by commas: the first
encrypts, all decrypt, for key rotation) or else from ``<data_dir>/secret.key`` (one key per line,
the same rule), created with mode 0600 on first use. Values are JSON (a dict or a str) encrypted as
a whole, so a token pair is one row written in one transaction: it is never half-updated.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from sqlalchemy import delete, select

from .paths import KEY_FILENAME, ensure_data_dir
from .schema import Secret, utcnow
from .sql import SessionFactory, upsert

__all__ = ["ENV_KEY", "Cipher", "SecretKeyError", "Secrets", "ensure_key_file", "load_key", "write_key_file"]

ENV_KEY = "SHOPBRIDGE_KEY"


class SecretKeyError(RuntimeError):
    """The encryption key is missing, malformed or not the one the secrets were written with."""


def ensure_key_file(data_dir: Path | str) -> Path:
    """Create ``<data_dir>/secret.key`` (mode 0600) with a new Fernet key unless it exists; return its path.

    Safe against a concurrent first start: the file is created exclusively, a loser reads the winner's.
    """
    path = ensure_data_dir(data_dir) / KEY_FILENAME
    if path.exists():
        return path
    key = Fernet.generate_key()
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path
    with os.fdopen(fd, "wb") as fh:
        fh.write(key + b"\n")
        fh.flush()
        os.fsync(fh.fileno())
    os.chmod(path, 0o600)  # in case a umask or filesystem widened it
    return path


def load_key(data_dir: Path | str | None, *, create: bool = True) -> list[bytes]:
    """The Fernet key(s): from ``SHOPBRIDGE_KEY`` if set, else the key file (created when ``create``)."""
    env = os.environ.get(ENV_KEY, "").strip()
    if env:
        return [k.strip().encode() for k in env.split(",") if k.strip()]
    if data_dir is None:
        raise SecretKeyError(f"no encryption key: set {ENV_KEY} or give a data directory for {KEY_FILENAME}")
    path = Path(data_dir) / KEY_FILENAME
    if not path.exists():
        if not create:
            raise SecretKeyError(f"the key file {path} is missing")
        ensure_key_file(data_dir)
    return [k.strip() for k in path.read_bytes().splitlines() if k.strip()]


def write_key_file(path: Path, keys: list[bytes]) -> None:
    """Replace the key file atomically with `keys`, one per line (mode 0600): the first encrypts."""
    tmp = path.with_name(path.name + ".new")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(b"".join(k + b"\n" for k in keys))
        fh.flush()
        os.fsync(fh.fileno())
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


class Cipher:
    """Fernet (AES-128-CBC + HMAC) over one or more keys; the first key encrypts."""

    def __init__(self, keys: list[bytes]) -> None:
        if not keys:
            raise SecretKeyError("no encryption key given")
        try:
            self._fernet = MultiFernet([Fernet(k) for k in keys])
        except (ValueError, TypeError) as exc:
            raise SecretKeyError(
                "the encryption key is not a valid Fernet key (32 url-safe base64 bytes)"
            ) from exc
        self._signing_root = hashlib.sha256(b"shopbridge signing\0" + keys[0]).digest()

    def derive_key(self, label: str) -> bytes:
        """A 32-byte key for `label` (e.g. signing portal cookies), derived from the current key.

        Rotating the key changes it: whatever it signed (sessions) is then no longer accepted.
        """
        return hmac.new(self._signing_root, label.encode("utf-8"), hashlib.sha256).digest()

    def encrypt(self, data: bytes) -> bytes:
        return self._fernet.encrypt(data)

    def decrypt(self, token: bytes) -> bytes:
        try:
            return self._fernet.decrypt(token)
        except InvalidToken:
            raise SecretKeyError(
                "a stored secret cannot be decrypted with this key (a different secret.key or SHOPBRIDGE_KEY "
                f"than the one it was written with): restore the original {KEY_FILENAME} or {ENV_KEY}, or "
                "connect again"
            ) from None

    def rotate(self, token: bytes) -> bytes:
        """Re-encrypt with the first (current) key."""
        return self._fernet.rotate(token)


class Secrets:
    """Encrypted credentials per connection: ``put(conn_id, kind, value)`` / ``get(conn_id, kind)``.

    Kinds in use: ``starweb_client_secret`` (str), ``visma_tokens`` (dict with access_token,
    refresh_token, expires_at), ``visma_client_secret``, ``webhook_secret``.
    """

    def __init__(self, session: SessionFactory, cipher: Callable[[], Cipher]) -> None:
        self._session = session
        self._cipher = cipher

    def put(self, connection_id: int, kind: str, value: dict[str, Any] | str) -> None:
        """Store (insert or replace) a secret, encrypted, in one transaction."""
        if not isinstance(value, dict | str):
            raise TypeError("a secret is a dict or a str")
        blob = self._cipher().encrypt(json.dumps(value, separators=(",", ":"), default=str).encode())
        with self._session() as s:
            upsert(
                s,
                Secret,
                {"connection_id": connection_id, "kind": kind, "ciphertext": blob, "updated_at": utcnow()},
                keys=("connection_id", "kind"),
            )

    def get(self, connection_id: int, kind: str) -> dict[str, Any] | str | None:
        """The decrypted value, or None when there is none."""
        with self._session() as s:
            blob = s.scalar(
                select(Secret.ciphertext).where(Secret.connection_id == connection_id, Secret.kind == kind)
            )
        if blob is None:
            return None
        return json.loads(self._cipher().decrypt(blob))

    def delete(self, connection_id: int, kind: str) -> bool:
        with self._session() as s:
            res = s.execute(delete(Secret).where(Secret.connection_id == connection_id, Secret.kind == kind))
            return bool(res.rowcount)

    def kinds(self, connection_id: int) -> list[str]:
        """Which secrets a connection has (names only)."""
        with self._session() as s:
            return list(
                s.scalars(
                    select(Secret.kind).where(Secret.connection_id == connection_id).order_by(Secret.kind)
                )
            )

    def kinds_by_connection(self) -> dict[int, set[str]]:
        """Which secrets every connection has (names only), in one query."""
        out: dict[int, set[str]] = {}
        with self._session() as s:
            for cid, kind in s.execute(select(Secret.connection_id, Secret.kind)):
                out.setdefault(cid, set()).add(kind)
        return out

    def rotate_all(self) -> int:
        """Re-encrypt every secret with the current (first) key; returns how many."""
        cipher = self._cipher()
        with self._session() as s:
            rows = s.scalars(select(Secret)).all()
            for row in rows:
                row.ciphertext = cipher.rotate(row.ciphertext)
            return len(rows)
