"""Whether the audit log is being written, and who is told the moment that changes.

The store is *in trouble* from the first write that fails (disk full,
database deleted or replaced, locked past its busy timeout, read-only, a
write that does not return) until the log is sound again: a write has
succeeded and the reserve (``reserve.py``) is held again. Watchers are
called synchronously, in the event loop's thread, at both edges: whoever
must freeze the swarm does so before the store does anything else (spends
its reserve, retries).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from controlroom._errors import AuditError

__all__ = ["StoreHealth", "Watcher"]

Watcher = Callable[[AuditError | None], None]
"""Called with the error when trouble starts (or its reason changes), None when it ends."""


class StoreHealth:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._watchers: list[Watcher] = []
        self.trouble: AuditError | None = None
        self.since: float | None = None  # clock() when the trouble started

    def watch(self, watcher: Watcher) -> None:
        self._watchers.append(watcher)

    def failing(self, error: AuditError) -> None:
        """A write (or a check) failed; watchers hear of a new trouble, or a new reason."""
        changed = self.trouble is None or str(self.trouble) != str(error)
        if self.trouble is None:
            self.since = self._clock()
        self.trouble = error
        if changed:
            self._tell(error)

    def recovered(self) -> None:
        if self.trouble is None:
            return
        self.trouble = None
        self.since = None
        self._tell(None)

    def failing_for(self) -> float:
        """Seconds since the trouble started (0 when there is none)."""
        return 0.0 if self.since is None else self._clock() - self.since

    def _tell(self, error: AuditError | None) -> None:
        for watcher in self._watchers:
            try:
                watcher(error)
            except Exception as exc:  # a watcher's bug must not stop the log's writer
                asyncio.get_running_loop().call_exception_handler(
                    {"message": "audit store watcher failed", "exception": exc}
                )
