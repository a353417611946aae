"""When the reader reads: rounds over the ready pipes, coalesced while output flows, each bounded.

The reader (reader.py) decides how much of a pipe a read takes and what
happens to it; this decides when each ready pipe gets its read. Every pipe
being read is registered with one epoll, whose descriptor the event loop
watches. A *round* polls it and serves each ready pipe once, in turn:

* Bounded: a round ends once it has taken its byte budget (the reader's
  ``ROUND_BYTES``), and the loop — the control socket, a kill, the
  dashboard — gets its turn however many agents flood. Bytes, not time: a
  loaded machine must not cut rounds short (more rounds, more overhead,
  just when there is least to spare). Fair all the same: a round serves the
  ready pipes least recently served first, so the ones it did not reach go
  first next time.
* Coalesced: while output keeps coming, rounds follow one another without
  the loop's selector: at once while the last round had more than it could
  take (a slice filled, or pipes left over), else ``COALESCE_SECONDS``
  later, so one wake-up reads several agents' lines instead of one (a
  wake-up — epoll wait, loop turn, cold caches — costs more than a line).
  While some pipe is *brisk* (a read took more than one line: it writes
  faster than the rounds come, like a runaway spending a line a
  millisecond), the wait is ``BRISK_COALESCE_SECONDS``, so its crossing
  line is read within about a line of being written. A round that finds
  nothing hands the waiting back to the loop: after a lull the first line
  is read at once.
* Hurried: ``hurry`` ends the round under way (or skips the next one), and
  the next round goes behind the callbacks scheduled meanwhile (a kill).
"""

from __future__ import annotations

import asyncio
import select
from collections.abc import Callable

__all__ = ["BRISK_COALESCE_SECONDS", "COALESCE_SECONDS", "Rounds"]

COALESCE_SECONDS = 0.010
"""After a round that took all there was, the wait before the next one (inside the
governor's budget: a crossing line is read at most this much later).

10 ms, not 5: a swarm of agents each writing a line now and then (100 agents x 20
lines/s, bench/tui_load.py) is read in half as many wake-ups, about 20 lines each,
and the control room's CPU went from 15.6-16.2 % to 14.2-14.4 % of a core (headless,
two pairs, load 1). A runaway is not held by it (brisk pipes wait
``BRISK_COALESCE_SECONDS``), nor a lone agent (the first line after a lull is read at
once), nor a flood (its rounds follow at once)."""

BRISK_COALESCE_SECONDS = 0.001
"""The wait instead while some pipe is brisk (for ``BRISK_SECONDS`` after a read of 2+ lines)."""

BRISK_SECONDS = 0.1

Serve = Callable[[int], None]
"""Read the pipe of this descriptor once (a slice); ``Rounds.took`` hears what it read."""


class Rounds:
    """The reader's schedule: one epoll of every pipe being read, served in bounded rounds."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        serve: Serve,
        round_bytes: int,
        *,
        coalesce_seconds: float = COALESCE_SECONDS,
    ) -> None:
        self._loop = loop
        self._serve = serve
        self._coalesce = coalesce_seconds
        self._budget = round_bytes
        self._epoll = select.epoll()
        self._armed = False  # the loop watches the epoll: no round is due
        self._next: asyncio.Handle | None = None  # the next round, when one is due
        self._served: dict[int, int] = {}  # descriptor → when it was last served (a count)
        self._serial = 0
        self._left = False  # the last round ran out of time with pipes still ready
        self._took, self._flooded = 0, False  # this round: bytes read, a slice filled
        self._brisk_until = 0.0  # loop time until which the short wait applies
        self.hurrying = False  # the rest of this round waits: something urgent goes first

    def add(self, fd: int) -> None:
        """Serve ``fd`` in the rounds (attached, or let go after being held)."""
        self._epoll.register(fd, select.EPOLLIN)
        if self._next is None and not self._armed:
            self._arm()

    def remove(self, fd: int) -> None:
        self._epoll.unregister(fd)
        self._served.pop(fd, None)

    def took(self, size: int, full: bool, lines: int) -> None:
        """A read took ``size`` bytes, ``lines`` lines; ``full``: it filled its slice."""
        self._took += size
        self._flooded = self._flooded or full
        if lines > 1:
            self._brisk_until = self._loop.time() + BRISK_SECONDS

    def hurry(self) -> None:
        self.hurrying = True

    def _arm(self) -> None:
        self._armed = True
        self._loop.add_reader(self._epoll.fileno(), self._wake)

    def _wake(self) -> None:
        self._armed = False
        self._loop.remove_reader(self._epoll.fileno())
        self._round()

    def _round(self) -> None:
        self._next = None
        self._took, self._flooded = 0, False
        self._left = False
        if not self.hurrying:  # else asked for outside a round: what is urgent goes first
            ready = [fd for fd, _ in self._epoll.poll(0)]
            ready.sort(key=lambda fd: self._served.get(fd, -1))
            self._left = self._serve_until(ready)
        if self.hurrying or self._flooded or self._left or (self._took and self._coalesce <= 0):
            self.hurrying = False  # the next round goes behind what was scheduled meanwhile
            self._next = self._loop.call_soon(self._round)
        elif self._took:
            wait = self._coalesce
            if self._loop.time() < self._brisk_until:
                wait = min(wait, BRISK_COALESCE_SECONDS)
            self._next = self._loop.call_later(wait, self._round)
        else:
            self._arm()

    def _serve_until(self, ready: list[int]) -> bool:
        """Serve ``ready`` in order; True if the budget (or a hurry) left some unserved."""
        served = self._served
        for index, fd in enumerate(ready):
            self._serial += 1
            served[fd] = self._serial
            self._serve(fd)
            if self.hurrying or self._took >= self._budget:
                return index + 1 < len(ready)
        return False

    def close(self) -> None:
        if self._next is not None:
            self._next.cancel()
        if self._armed:
            self._loop.remove_reader(self._epoll.fileno())
        self._next, self._armed = None, False
        self._epoll.close()
