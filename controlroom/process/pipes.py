"""An agent's output pipes, opened by us rather than by asyncio's subprocess transport.

Why: asyncio gives every pipe its own protocol and stream, and every chunk
that arrives wakes a task of its own; the supervisor reads every agent's
pipes with one reader instead (``swarm/reader.py``), which needs the raw,
non-blocking file descriptors. So the pipes are made here, the child gets
the write ends as its stdout and stderr, and the parent keeps only the read
ends (close-on-exec, so no other agent inherits them).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

__all__ = ["OutputPipes"]


def _pipe() -> tuple[int, int]:
    read_end, write_end = os.pipe2(os.O_CLOEXEC)
    os.set_blocking(read_end, False)
    return read_end, write_end


@dataclass
class OutputPipes:
    """Read ends (ours, non-blocking) and write ends (the child's) of stdout and stderr."""

    stdout: int
    stderr: int
    child_stdout: int
    child_stderr: int

    @classmethod
    def open(cls) -> OutputPipes:
        out_read, out_write = _pipe()
        try:
            err_read, err_write = _pipe()
        except OSError:
            os.close(out_read)
            os.close(out_write)
            raise
        return cls(out_read, err_read, out_write, err_write)

    def close_child_ends(self) -> None:
        """Once the child has its copies: until ours are closed, its exit is no EOF."""
        for name in ("child_stdout", "child_stderr"):
            fd = getattr(self, name)
            if fd >= 0:
                os.close(fd)
                setattr(self, name, -1)

    def close(self) -> None:
        """Close every end still open (a spawn that failed; the reader closes its own)."""
        self.close_child_ends()
        for name in ("stdout", "stderr"):
            fd = getattr(self, name)
            if fd >= 0:
                os.close(fd)
                setattr(self, name, -1)
