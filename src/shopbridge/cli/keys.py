"""`shopbridge keys rotate`: a new encryption key for the secrets at rest (MultiFernet).

With the key file (`<data dir>/secret.key`): `rotate` puts a new key first in the file (the old ones
stay after it, so every secret still decrypts) and re-encrypts every secret with it; restart every
process so they all know the new key, then `rotate --forget-old` keeps the new key only.
With `SHOPBRIDGE_KEY`: `keys new` prints a key; set `SHOPBRIDGE_KEY=new,old` everywhere, restart,
`rotate` re-encrypts with the first key; then drop the old key from the variable.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from shopbridge.cli.ui import console, fail, store

keys_app = typer.Typer(help="The key that encrypts credentials and tokens at rest.", no_args_is_help=True)


@keys_app.command()
def new() -> None:
    """Print a new key (for SHOPBRIDGE_KEY); nothing is changed."""
    from cryptography.fernet import Fernet

    console.print(Fernet.generate_key().decode())


@keys_app.command()
def rotate(
    forget_old: Annotated[
        bool, typer.Option("--forget-old", help="Keep only the current key (after every process restarted)")
    ] = False,
) -> None:
    """Re-encrypt every secret with a new key (key file) or the first key of SHOPBRIDGE_KEY."""
    from cryptography.fernet import Fernet

    from shopbridge.store.crypto import ENV_KEY, write_key_file
    from shopbridge.store.paths import KEY_FILENAME

    s = store()
    env = os.environ.get(ENV_KEY, "").strip()
    if env:
        if forget_old:
            raise fail(f"with {ENV_KEY}, drop the old key from the variable yourself, then restart")
        n = s.secrets.rotate_all()
        console.print(f"{n} secrets re-encrypted with the first key of {ENV_KEY}")
        return
    if s.data_dir is None:
        raise fail("no data directory: give --data-dir, or set SHOPBRIDGE_KEY")
    path = Path(s.data_dir) / KEY_FILENAME
    keys = [k.strip() for k in path.read_bytes().splitlines() if k.strip()] if path.exists() else []
    if not keys:
        raise fail(f"there is no key file at {path}")
    if forget_old:
        s.use_keys(keys[:1])  # every secret must decrypt with the current key alone
        try:
            n = s.secrets.rotate_all()
        except Exception:
            raise fail(
                "some secrets do not decrypt with the current key alone: run `keys rotate` first"
            ) from None
        write_key_file(path, keys[:1])
        console.print(f"kept the current key only ({n} secrets checked)")
        return
    fresh = Fernet.generate_key()
    write_key_file(path, [fresh, *keys])  # first encrypts, all decrypt
    s.use_keys([fresh, *keys])
    n = s.secrets.rotate_all()
    console.print(
        f"new key in {path}; {n} secrets re-encrypted with it. Restart every shopbridge process, then "
        "run `shopbridge keys rotate --forget-old`."
    )
