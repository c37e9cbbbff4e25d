"""The portal's locks: password hashes, signed cookies, CSRF tokens, the sign-in throttle, TOTP.

* Passwords: argon2id (argon2-cffi's defaults, re-hashed when they change).
* Cookies carry a random token plus an HMAC of it (the key is derived from the store's encryption
  key); the server keeps only a hash of the token (``store.web_sessions``).
* CSRF: every state-changing request carries a token (form field ``csrf_token`` or header
  ``X-CSRF-Token``) that is an HMAC of the session (or, before sign-in, of an anonymous cookie).
  A new session at sign-in gives a new token.
* Throttle: failed sign-ins counted per account and per address over a window; past the limit,
  attempts are refused without checking the password.
* TOTP (RFC 6238, SHA-1, 6 digits, 30 s, one step of drift) for partner accounts that turn it on.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import struct
import time
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import quote

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from shopbridge.store import Store, utcnow

__all__ = [
    "MIN_PASSWORD",
    "Signer",
    "Throttle",
    "hash_password",
    "needs_rehash",
    "new_totp_secret",
    "totp_now",
    "totp_uri",
    "verify_password",
    "verify_totp",
]

MIN_PASSWORD = 10
_hasher = PasswordHasher()
# a hash to verify against when the account does not exist, so timing does not tell
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(stored: str | None, password: str) -> bool:
    """Constant work whether or not the account exists."""
    try:
        return _hasher.verify(stored or _DUMMY_HASH, password) and stored is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(stored: str) -> bool:
    return _hasher.check_needs_rehash(stored)


class Signer:
    """HMAC signatures for cookie values and CSRF tokens."""

    def __init__(self, key: bytes) -> None:
        self._key = key

    def _mac(self, purpose: str, value: str) -> str:
        mac = hmac.new(self._key, f"{purpose}\0{value}".encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(mac[:24]).decode("ascii").rstrip("=")

    def sign(self, value: str, purpose: str = "cookie") -> str:
        return f"{value}.{self._mac(purpose, value)}"

    def unsign(self, signed: str | None, purpose: str = "cookie") -> str | None:
        """The value when the signature holds, else None."""
        if not signed or "." not in signed:
            return None
        value, _, mac = signed.rpartition(".")
        return value if hmac.compare_digest(mac, self._mac(purpose, value)) else None

    def csrf_token(self, binding: str) -> str:
        return self._mac("csrf", binding)

    def csrf_ok(self, binding: str | None, given: str | None) -> bool:
        if not binding or not given:
            return False
        return hmac.compare_digest(given, self.csrf_token(binding))


@dataclass(frozen=True)
class Throttle:
    """Failed sign-ins allowed per account and per address within `window`."""

    per_account: int = 5
    per_address: int = 20
    window: timedelta = timedelta(minutes=15)

    def keys(self, email: str, address: str) -> list[str]:
        return [f"account:{email.strip().lower()}", f"address:{address}"]

    def wait(self, store: Store, email: str, address: str) -> timedelta | None:
        """How long until another attempt is allowed (None: allowed now)."""
        now = utcnow()
        longest: timedelta | None = None
        for key, limit in zip(self.keys(email, address), (self.per_account, self.per_address), strict=True):
            count, oldest = store.web_sessions.failures(key, now - self.window)
            if count >= limit and oldest is not None:
                left = oldest + self.window - now
                longest = left if longest is None or left > longest else longest
        return longest

    def failed(self, store: Store, email: str, address: str) -> None:
        store.web_sessions.record_failure(self.keys(email, address))

    def succeeded(self, store: Store, email: str) -> None:
        store.web_sessions.clear_failures(self.keys(email, "")[0])


# -- TOTP -----------------------------------------------------------------------------------------
def new_totp_secret() -> str:
    return base64.b32encode(secrets.token_bytes(20)).decode("ascii")


def _hotp(secret: str, counter: int, digits: int = 6) -> str:
    key = base64.b32decode(secret.upper() + "=" * (-len(secret) % 8))
    digest = hmac.new(key, struct.pack(">Q", counter), hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    code = (struct.unpack(">I", digest[offset : offset + 4])[0] & 0x7FFFFFFF) % (10**digits)
    return str(code).zfill(digits)


def totp_now(secret: str, at: float | None = None, step: int = 30) -> str:
    return _hotp(secret, int((time.time() if at is None else at) // step))


def verify_totp(secret: str, code: str, at: float | None = None, step: int = 30) -> bool:
    """True when `code` is the code of now, or of the step just before or after (clock drift)."""
    code = "".join(ch for ch in code if ch.isdigit())
    if len(code) != 6:
        return False
    counter = int((time.time() if at is None else at) // step)
    return any(hmac.compare_digest(_hotp(secret, counter + d), code) for d in (-1, 0, 1))


def totp_uri(secret: str, account: str, issuer: str = "shopbridge") -> str:
    """The otpauth:// URI authenticator apps read (shown as text to type or paste)."""
    return f"otpauth://totp/{quote(issuer)}:{quote(account)}?secret={secret}&issuer={quote(issuer)}"
