"""A list too long to keep in memory: the newest items in memory, the rest pickled to a temporary file.

Catalogue sweeps read and plan every item of a catalogue; a `Spool` keeps what they hold per item
(the shop's variants as read, a plan's actions) out of memory, so a sync's working set does not grow
with the catalogue. Items come back as copies, in the order they were appended.
"""

from __future__ import annotations

import pickle
import tempfile
from collections.abc import Callable, Iterator
from typing import IO, Any, Generic, TypeVar

T = TypeVar("T")
CHUNK = 500  # items kept in memory before they go to the file; also the read-back batch


class Spool(Generic[T]):
    """An append-only sequence: `append`, `len`, iteration. `pack(index, item)` gives what the file
    keeps of an item, pickled (default: the item pickled); `unpack(index, stored)` the item again from
    that, unpickled (default: the item itself)."""

    def __init__(
        self,
        pack: Callable[[int, T], bytes] | None = None,
        unpack: Callable[[int, Any], T] | None = None,
    ) -> None:
        self._pack = pack or (lambda _i, item: pickle.dumps(item))
        self._unpack = unpack or (lambda _i, stored: stored)
        self._buffer: list[T] = []  # the newest items, not in the file yet
        self._file: IO[bytes] | None = None
        self._filed = 0  # items in the file (the first ones)
        self._end = 0  # the file's size

    def __len__(self) -> int:
        return self._filed + len(self._buffer)

    def append(self, item: T) -> None:
        self._buffer.append(item)
        if len(self._buffer) >= CHUNK:
            self._spill()

    def extend(self, items: Any) -> None:
        for item in items:
            self.append(item)

    def __iter__(self) -> Iterator[T]:
        for _, item in self.indexed():
            yield item

    def indexed(self) -> Iterator[tuple[int, T]]:
        """(index, item) for every item, in order; items appended meanwhile come too."""
        offset, index = 0, 0
        while index < self._filed:
            batch, offset = self._read(offset, min(CHUNK, self._filed - index))
            for stored in batch:
                yield index, self._unpack(index, stored)
                index += 1
        while index < len(self):
            yield index, self._buffer[index - self._filed]
            index += 1

    def _read(self, offset: int, n: int) -> tuple[list[Any], int]:
        assert self._file is not None
        self._file.seek(offset)
        batch = [pickle.load(self._file) for _ in range(n)]
        return batch, self._file.tell()

    def _spill(self) -> None:
        if self._file is None:
            # lives as long as the spool; unlinked already, gone when the spool is
            self._file = tempfile.TemporaryFile(prefix="shopbridge-spool-")  # noqa: SIM115
        self._file.seek(self._end)
        for item in self._buffer:
            self._file.write(self._pack(self._filed, item))
            self._filed += 1
        self._end = self._file.tell()
        self._buffer = []
