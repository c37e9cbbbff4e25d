"""A catalogue plan's actions, kept in a `Spool` (a temporary file once there are many).

A plan of the whole catalogue then costs a few counters in memory, not one object (with its write's
arguments) per item: the preview reads the actions back, and `take` hands the writes to
`CatalogPlan.apply` in the order they were planned. A write is a `functools.partial` of a flow's
method; the file keeps the method's name and arguments, the log keeps the flow. A write that cannot
be stored so (another callable, arguments that do not pickle) stays in memory.
"""

from __future__ import annotations

import pickle
from collections import Counter
from collections.abc import Callable, Iterator
from functools import partial
from typing import TYPE_CHECKING, Any

from shopbridge.sync.spool import Spool

if TYPE_CHECKING:
    from shopbridge.sync.catalog import Action

KEPT = -1  # a packed write that stayed in memory (`ActionLog._kept`)


class ActionLog:
    """An append-only sequence of actions: `len`, iteration, kinds counted, writes taken once."""

    def __init__(self) -> None:
        self.kinds: Counter[str] = Counter()
        self.writes = 0  # actions with a write, taken or not
        self._spool: Spool[Action] = Spool(self._pack, self._unpack)
        self._owners: list[Any] = []  # the flows whose methods the stored writes call
        self._kept: dict[int, Callable[[], Any]] = {}  # writes that stayed in memory, by index
        self._failed: dict[int, str] = {}  # index -> why its write failed (the action is an error now)
        self._taken = 0  # actions before this index have had their write taken (`take`)

    def __len__(self) -> int:
        return len(self._spool)

    def append(self, action: Action) -> None:
        self.kinds[action.kind] += 1
        self.writes += action.run is not None
        self._spool.append(action)

    def __iter__(self) -> Iterator[Action]:
        for _, action in self._indexed():
            yield action

    def take(self) -> Iterator[tuple[int, Action, Callable[[], Any]]]:
        """Each write not taken yet, once, in plan order: (index, action, write)."""
        for index, action in self._indexed():
            if index < self._taken:
                continue
            self._taken = index + 1
            run, action.run = action.run, None
            self._kept.pop(index, None)
            if run is not None:
                yield index, action, run

    def fail(self, index: int, action: Action, reason: str) -> None:
        """The write at `index` failed: the action is an error with `reason` from now on."""
        self.kinds[action.kind] -= 1
        self.kinds["error"] += 1
        self._failed[index] = reason
        action.kind, action.reason = "error", reason

    def _indexed(self) -> Iterator[tuple[int, Action]]:
        for index, action in self._spool.indexed():
            if index in self._failed:
                action.kind, action.reason = "error", self._failed[index]
            yield index, action

    def _pack(self, index: int, action: Action) -> bytes:
        head = (action.kind, action.key, action.label, action.reason, action.changes)
        run = action.run
        owner = getattr(getattr(run, "func", None), "__self__", None)
        if run is None:
            return pickle.dumps((*head, None))
        if isinstance(run, partial) and owner is not None:
            stored = (*head, (self._owner(owner), run.func.__name__, run.args, run.keywords))
            try:
                return pickle.dumps(stored)
            except (pickle.PicklingError, TypeError, AttributeError):
                pass
        self._kept[index] = run
        return pickle.dumps((*head, KEPT))

    def _owner(self, owner: Any) -> int:
        for i, known in enumerate(self._owners):
            if known is owner:
                return i
        self._owners.append(owner)
        return len(self._owners) - 1

    def _unpack(self, index: int, packed: tuple[Any, ...]) -> Action:
        from shopbridge.sync.catalog import Action

        kind, key, label, reason, changes, stored = packed
        run: Callable[[], Any] | None = None
        if index < self._taken or stored is None:
            run = None
        elif stored == KEPT:
            run = self._kept[index]
        else:
            owner, name, args, keywords = stored
            run = partial(getattr(self._owners[owner], name), *args, **keywords)
        return Action(kind, key, label, reason, changes, run)
