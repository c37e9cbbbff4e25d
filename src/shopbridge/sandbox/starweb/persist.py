"""`--state FILE` persistence: all shops in one JSON file, written at most once a second and on shutdown."""

from __future__ import annotations

import asyncio
import logging
import os
import tempfile
from pathlib import Path

from .state import ShopState, dump_state, load_state

log = logging.getLogger(__name__)


class Persister:
    """Writes all shops to `path` at most every `delay_s` seconds after a change (and on shutdown)."""

    def __init__(self, path: Path | None, shops: dict[int, ShopState], delay_s: float = 1.0):
        self.path = Path(path) if path else None
        self.shops = shops
        self.delay_s = delay_s
        self._scheduled: asyncio.TimerHandle | None = None
        self.dirty = False

    def load(self) -> dict[int, ShopState] | None:
        """The saved shops, or None when there is no file yet."""
        if self.path is None or not self.path.exists():
            return None
        return load_state(self.path.read_text(encoding="utf-8"))

    def mark_dirty(self) -> None:
        if self.path is None:
            return
        self.dirty = True
        if self._scheduled is not None:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self.flush()
            return
        self._scheduled = loop.call_later(self.delay_s, self._timer)

    def _timer(self) -> None:
        self._scheduled = None
        self.flush()

    def flush(self) -> None:
        """Write now if anything changed (atomic replace)."""
        if self.path is None or not self.dirty:
            return
        self.dirty = False
        text = dump_state(self.shops)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=self.path.name + ".", suffix=".tmp", dir=str(self.path.parent))
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(text)
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def close(self) -> None:
        if self._scheduled is not None:
            self._scheduled.cancel()
            self._scheduled = None
        self.flush()
