"""An agent's OS process as the event loop sees it, when it was started off the loop.

asyncio's ``create_subprocess_exec`` forks on the loop thread; the spawner
thread (``spawner.py``) forks instead, so the ``Popen`` it hands back is
wrapped here: its exit is noticed through a pidfd registered with the
loop's selector (no child-watcher thread per agent), its stdin is an
asyncio ``StreamWriter`` and the pipes asyncio would have made are
``StreamReader``\\ s. The interface is the part of
``asyncio.subprocess.Process`` that callers use: ``pid``, ``returncode``,
``stdin``/``stdout``/``stderr``, ``wait()`` and ``communicate()``.

One difference, on purpose: ``wait()`` returns when the process has exited,
not when every holder of its pipes has closed them (a daemon the agent left
behind keeps those open; Python 3.11's ``Process.wait`` waited for it).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
from typing import IO

from controlroom.process import leaders

__all__ = ["ChildProcess"]

_POLL_SECONDS = 0.05  # how often an exit is polled where there is no pidfd


class ChildProcess:
    """A started ``Popen``, its exit awaited on the loop and its pipes made asyncio streams."""

    def __init__(self, popen: subprocess.Popen[bytes], loop: asyncio.AbstractEventLoop) -> None:
        self.pid = popen.pid
        self.stdin: asyncio.StreamWriter | None = None
        self.stdout: asyncio.StreamReader | None = None
        self.stderr: asyncio.StreamReader | None = None
        self._popen = popen
        self._loop = loop
        self._exit: asyncio.Future[int] = loop.create_future()
        self._pidfd: int | None = None
        self._transports: list[asyncio.BaseTransport] = []

    @classmethod
    async def attach(cls, popen: subprocess.Popen[bytes], limit: int) -> ChildProcess:
        """Watch ``popen``'s exit and connect its pipes; a failure (or a cancel) kills it."""
        child = cls(popen, asyncio.get_running_loop())
        child._watch()
        try:
            if popen.stdin is not None:
                child.stdin = await child._writer(popen.stdin)
            if popen.stdout is not None:
                child.stdout = await child._reader(popen.stdout, limit)
            if popen.stderr is not None:
                child.stderr = await child._reader(popen.stderr, limit)
        except BaseException:
            child.kill_group()
            child.close_pipes()
            raise
        return child

    # ------------------------------------------------------------------ the exit

    @property
    def returncode(self) -> int | None:
        """The exit status once it has exited (negative: the signal that ended it), else None."""
        return self._exit.result() if self._exit.done() else None

    async def wait(self) -> int:
        """The exit status, as soon as the process has exited (its pipes may still be open)."""
        return await asyncio.shield(self._exit)

    async def communicate(self, data: bytes | None = None) -> tuple[bytes | None, bytes | None]:
        """Write ``data`` to stdin and close it, read stdout and stderr to their end, wait."""
        if self.stdin is not None:
            with contextlib.suppress(ConnectionError):
                if data:
                    self.stdin.write(data)
                    await self.stdin.drain()
            self.stdin.close()
        out, err = await asyncio.gather(_read_all(self.stdout), _read_all(self.stderr))
        await self.wait()
        return out, err

    def kill_group(self) -> None:
        """SIGKILL its process group (its own: it leads a new session), if it has not exited."""
        if self.returncode is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.pid, signal.SIGKILL)

    def _watch(self) -> None:
        try:
            self._pidfd = os.pidfd_open(self.pid)
        except (AttributeError, OSError):  # not Linux 5.3+: poll instead
            self._pidfd = None
        if self._pidfd is not None:
            self._loop.add_reader(self._pidfd, self._poll)
        else:
            self._loop.call_soon(self._poll)

    def _poll(self) -> None:
        """The pidfd is readable (or a poll is due): collect the exit status, if there is one."""
        if self._exit.done():
            return
        code = self._popen.poll()  # waitpid(WNOHANG): reaps it, once
        if code is None:
            if self._pidfd is None:
                self._loop.call_later(_POLL_SECONDS, self._poll)
            return
        leaders.collected(self.pid)
        self._unwatch()
        self._exit.set_result(code)
        if self.stdin is not None:  # nobody is left to read it (a leftover daemon may hold it)
            self.stdin.close()

    def _unwatch(self) -> None:
        if self._pidfd is not None:
            if not self._loop.is_closed():
                self._loop.remove_reader(self._pidfd)
            os.close(self._pidfd)
            self._pidfd = None

    # ------------------------------------------------------------------ the pipes

    async def _writer(self, pipe: IO[bytes]) -> asyncio.StreamWriter:
        protocol = asyncio.StreamReaderProtocol(asyncio.StreamReader())
        transport, _ = await self._loop.connect_write_pipe(lambda: protocol, pipe)
        self._transports.append(transport)
        return asyncio.StreamWriter(transport, protocol, None, self._loop)

    async def _reader(self, pipe: IO[bytes], limit: int) -> asyncio.StreamReader:
        reader = asyncio.StreamReader(limit=limit)
        transport, _ = await self._loop.connect_read_pipe(
            lambda: asyncio.StreamReaderProtocol(reader), pipe
        )
        self._transports.append(transport)
        return reader

    def close_pipes(self) -> None:
        """Close our ends of its pipes: the asyncio transports, and raw files not yet connected."""
        for transport in self._transports:
            transport.close()
        for pipe in (self._popen.stdin, self._popen.stdout, self._popen.stderr):
            if pipe is not None and not any(
                t.get_extra_info("pipe") is pipe for t in self._transports
            ):
                pipe.close()

    def close(self) -> None:
        """Release everything on our side: pipes, and the exit watch of a process left running."""
        self.close_pipes()
        if not self._exit.done():
            self._unwatch()


async def _read_all(stream: asyncio.StreamReader | None) -> bytes | None:
    return None if stream is None else await stream.read()
