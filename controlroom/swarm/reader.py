"""One reader for every agent's output pipes, in fair rounds.

Why one reader: with a task per pipe, every line woke a task of its own
(about 140 µs of loop work per line at 100 agents), and a flood's reader
took a whole buffer per turn while a quiet agent's line (and the governor's
stop for it) waited behind every flood.

How: every pipe is non-blocking and registered with the reader's own epoll,
whose descriptor the loop watches. A *round* gives each ready pipe one slice
of bytes, framed (``LineSplitter``) and delivered (adapter → supervisor →
governor) at once. A slice is ``ROUND_BYTES`` shared by the pipes that filled
their last one (the loud), within ``MIN_SLICE``..``MAX_SLICE``; quiet pipes
are read ahead of every loud slice. Whatever a delivery decides (a budget
stop: recorded, and its agent sent SIGTERM) happens before anyone's next
slice; what must wait for the slice's end goes in ``after_slice``. When the
rounds run — bounded in time, coalesced while output flows, hurried for a
kill — is rounds.py's job.

Back-pressure: while the audit writer is far behind (``backlogged``), each
pipe may take in ``QUIET_BYTES_PER_SECOND`` (a token bucket); a pipe over
that — the loudest first — is *held* (out of the epoll: its agent blocks on
its full pipe) until the writer makes room. Never a quiet pipe, an exited
agent's (``Pipe.draining``).
"""

from __future__ import annotations

import asyncio
import os
import select
from collections.abc import Callable
from typing import Protocol

from controlroom.adapters.lines import CHUNK_BYTES, MAX_LINE_BYTES, LineSplitter, MalformedLine
from controlroom.swarm.rounds import COALESCE_SECONDS, Rounds

__all__ = [
    "MAX_SLICE",
    "MIN_SLICE",
    "QUIET_BYTES_PER_SECOND",
    "ROUND_BYTES",
    "Backlog",
    "Deliver",
    "Item",
    "OutputReader",
    "Pipe",
]

ROUND_BYTES = 1 << 16
"""Bytes one round takes in, shared by the loud pipes (about 650 usage lines)."""

MIN_SLICE = 1 << 12
"""The smallest slice (about 40 usage lines): with many floods a round is longer rather
than a read smaller (a read costs as much as a few lines: a syscall, a pipe writer woken)."""

MAX_SLICE = 1 << 16
"""The largest slice: one pipe's whole buffer when it is the only loud one."""

QUIET_BYTES_PER_SECOND = CHUNK_BYTES
"""What a pipe may take in per second (and at once) while the audit writer is behind."""

Item = str | MalformedLine
Deliver = Callable[[list[Item]], None]


class Backlog(Protocol):
    """What the reader needs of the audit log: is it behind, and wait for room."""

    @property
    def backlogged(self) -> bool: ...

    async def room(self, timeout: float | None = None) -> bool: ...


class Pipe:
    """One registered read end: its framing, its share of the rounds, and its end."""

    def __init__(
        self, reader: OutputReader, fd: int, deliver: Deliver, label: str, max_line: int, now: float
    ) -> None:
        self.reader = reader
        self.fd = fd
        self.deliver = deliver
        self.label = label
        self.splitter = LineSplitter(max_line)
        self.ended: asyncio.Future[None] = reader.loop.create_future()
        self.lines = self.bytes = 0  # items delivered and bytes read so far
        # Its last read filled its slice. A new pipe counts as loud until its first
        # read says otherwise: twenty agents starting at once share one round.
        self.loud = True
        self.preempts = False  # in the reader's side epoll: read ahead of loud slices
        self.held = self.draining = self.closed = False
        self.allowance = float(QUIET_BYTES_PER_SECOND)
        self.refilled = now

    def drain(self) -> None:
        """Its writer has exited: read the rest without ever holding it."""
        self.draining = True
        if self.held:
            self.reader._release(self)

    def close(self) -> None:
        """Stop reading: unregister and close the descriptor; pending output is lost."""
        self.reader._close(self)


class OutputReader:
    """Reads every attached pipe from the event loop's selector, a fair slice per round."""

    def __init__(
        self,
        backlog: Backlog | None = None,
        *,
        round_bytes: int = ROUND_BYTES,
        min_slice: int = MIN_SLICE,
        max_slice: int = MAX_SLICE,
        quiet_bytes_per_second: float = QUIET_BYTES_PER_SECOND,
        coalesce_seconds: float = COALESCE_SECONDS,
    ) -> None:
        if not 0 < min_slice <= max_slice:
            raise ValueError(f"need 0 < min_slice <= max_slice, got {min_slice}, {max_slice}")
        self._backlog = backlog
        self._round_bytes, self._min_slice, self._max_slice = round_bytes, min_slice, max_slice
        self._quiet_rate = quiet_bytes_per_second
        self._coalesce = coalesce_seconds
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pipes: set[Pipe] = set()
        self._loud = 0
        self._held: set[Pipe] = set()
        self._releaser: asyncio.Task[None] | None = None
        self._depth = 0  # deliveries under way (a callback may read another pipe)
        self._after: list[Callable[[], None]] = []
        self._running_after = False
        self._rounds: Rounds | None = None  # every pipe being read (not held, not closed)
        self._quiet = select.epoll()  # the pipes not known to be loud
        self._by_fd: dict[int, Pipe] = {}

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
        return self._loop

    @property
    def rounds(self) -> Rounds:
        if self._rounds is None:
            self._rounds = Rounds(
                self.loop, self._serve, self._round_bytes, coalesce_seconds=self._coalesce
            )
        return self._rounds

    @property
    def pipes(self) -> int:
        return len(self._pipes)

    @property
    def held(self) -> list[str]:
        """Labels of the pipes held back for the audit log right now."""
        return sorted(p.label for p in self._held)

    def attach(
        self, fd: int, deliver: Deliver, label: str = "", *, max_line: int = MAX_LINE_BYTES
    ) -> Pipe:
        """Read ``fd`` (non-blocking; the reader owns it now) until EOF into ``deliver``."""
        os.set_blocking(fd, False)
        loop = self.loop
        pipe = Pipe(self, fd, deliver, label or f"fd {fd}", max_line, loop.time())
        self._pipes.add(pipe)
        self._by_fd[fd] = pipe
        self._loud += 1
        self._preempt(pipe, True)  # loud for the slices' sizes, quiet until it proves loud
        self.rounds.add(fd)
        return pipe

    def after_slice(self, action: Callable[[], None]) -> None:
        """Run ``action`` once the slice being delivered is done (at once if none is)."""
        self._after.append(action)
        if self._depth == 0:
            self._run_after()

    def hurry(self) -> None:
        """Let what was just scheduled (a stop's kill) run before the rest of this round.

        The round's other reads wait for the next round, scheduled behind the
        callbacks scheduled now: a kill waits for no flood.
        """
        self.rounds.hurry()

    # ------------------------------------------------------------------ the rounds

    def _serve(self, fd: int) -> None:
        pipe = self._by_fd.get(fd)
        if pipe is not None and not pipe.held:
            self._readable(pipe)

    def _slice(self) -> int:
        share = self._round_bytes // (self._loud or 1)
        return min(self._max_slice, max(self._min_slice, share))

    def _readable(self, pipe: Pipe) -> None:
        if pipe.loud:
            self._serve_quiet()
            if self.rounds.hurrying or pipe.closed or pipe.held:
                return
        self._read(pipe, self._slice(), throttle=True)

    def _serve_quiet(self) -> None:
        """Read every quiet pipe that has output now, ahead of the loud slice due next."""
        try:
            ready = self._quiet.poll(0)
        except (OSError, ValueError):  # closed at shutdown
            return
        for fd, _ in ready:
            pipe = self._by_fd.get(fd)
            if pipe is not None and pipe.preempts:
                self._read(pipe, self._slice(), throttle=True)
                if self.rounds.hurrying:
                    return

    def _preempt(self, pipe: Pipe, on: bool) -> None:
        """Put ``pipe`` in the side epoll of pipes read ahead of loud slices, or take it out."""
        if on == pipe.preempts:
            return
        pipe.preempts = on
        if on:
            self._quiet.register(pipe.fd, select.EPOLLIN)
        else:
            self._quiet.unregister(pipe.fd)

    def _read(self, pipe: Pipe, size: int, *, throttle: bool) -> int:
        """One slice of ``pipe``: read, frame, deliver. Bytes read; 0 at EOF, -1 if empty."""
        try:
            data = os.read(pipe.fd, size)
        except (BlockingIOError, InterruptedError):
            return -1
        except OSError:  # EIO and the like: the pipe is as good as ended
            data = b""
        if not data:
            items = pipe.splitter.close()
            if items:
                self._deliver(pipe, items)
            self._close(pipe)
            return 0
        full = len(data) == size
        if full != pipe.loud:
            pipe.loud = full
            self._loud += 1 if full else -1
        if full == pipe.preempts and not pipe.held:
            self._preempt(pipe, not full)
        pipe.bytes += len(data)
        items = pipe.splitter.feed(data)
        self.rounds.took(len(data), full, len(items))
        if items:
            self._deliver(pipe, items)
        if throttle and self._backlog is not None and not pipe.draining:
            self._throttle(pipe, len(data))
        return len(data)

    def _deliver(self, pipe: Pipe, items: list[Item]) -> None:
        pipe.lines += len(items)
        self._depth += 1
        try:
            pipe.deliver(items)
        finally:
            self._depth -= 1
        if self._depth == 0 and self._after:
            self._run_after()

    def _run_after(self) -> None:
        if self._running_after:
            return  # the outer call goes on with the list
        self._running_after = True
        try:
            while self._after:
                self._after.pop(0)()
        finally:
            self._running_after = False

    # ------------------------------------------------------------------ back-pressure

    def _throttle(self, pipe: Pipe, taken: int) -> None:
        backlog = self._backlog
        assert backlog is not None
        if not backlog.backlogged:
            pipe.allowance = float(self._quiet_rate)  # full: when it was refilled does not count
            return
        now = self.loop.time()
        refill = (now - pipe.refilled) * self._quiet_rate
        pipe.allowance = min(float(self._quiet_rate), pipe.allowance + refill) - taken
        pipe.refilled = now
        if pipe.allowance < 0 and not pipe.closed:
            pipe.allowance = 0.0
            pipe.held = True
            self._held.add(pipe)
            self.rounds.remove(pipe.fd)
            self._preempt(pipe, False)
            if self._releaser is None or self._releaser.done():
                self._releaser = self.loop.create_task(self._release_on_room(), name="reader room")

    async def _release_on_room(self) -> None:
        backlog = self._backlog
        assert backlog is not None
        while self._held:
            # In short waits, so a held pipe whose agent exits meanwhile is drained.
            if await backlog.room(0.1):
                for pipe in list(self._held):
                    self._release(pipe)

    def _release(self, pipe: Pipe) -> None:
        if not pipe.held:
            return
        pipe.held = False
        self._held.discard(pipe)
        pipe.refilled = self.loop.time()
        if not pipe.closed:
            self.rounds.add(pipe.fd)
            self._preempt(pipe, not pipe.loud)

    # ------------------------------------------------------------------ the end

    def _close(self, pipe: Pipe) -> None:
        if pipe.closed:
            return
        pipe.closed = True
        self._preempt(pipe, False)
        self._by_fd.pop(pipe.fd, None)
        if pipe.held:
            pipe.held = False
            self._held.discard(pipe)
        else:
            self.rounds.remove(pipe.fd)
        if pipe.loud:
            pipe.loud = False
            self._loud -= 1
        self._pipes.discard(pipe)
        os.close(pipe.fd)
        if not pipe.ended.done():
            pipe.ended.set_result(None)

    def close(self) -> None:
        """Close every pipe still attached (the supervisor is done)."""
        for pipe in list(self._pipes):
            pipe.close()
        if self._releaser is not None:
            self._releaser.cancel()
        if self._rounds is not None:
            self._rounds.close()
        self._quiet.close()
