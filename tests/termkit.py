"""A real terminal for tests: a command in a tmux pane on a private server.

tmux gives the command a real pty; keys go in with ``send-keys``, the screen
comes back with ``capture-pane``, and what the command did to the terminal
itself (its title, tmux's paste buffers) can be asked of tmux. The server is
a private one (``-L``, a unique socket name), started from an empty config
plus ``set-clipboard on`` (so an OSC 52 write from the pane would create a
buffer, and a test can see it), and killed at the end, whatever happens.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


class Terminal:
    """One tmux session on a private server."""

    def __init__(self, server: str, session: str) -> None:
        self.server = server
        self.session = session

    def tmux(self, *args: str) -> str:
        done = subprocess.run(
            ["tmux", "-L", self.server, *args], capture_output=True, text=True, timeout=10
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    def screen(self, *, escapes: bool = False) -> str:
        """The pane's text; with ``escapes``, with its colours and attributes as SGR codes."""
        return self.tmux("capture-pane", "-p", *(["-e"] if escapes else []), "-t", self.session)

    def title(self) -> str:
        return self.tmux("display-message", "-p", "-t", self.session, "#{pane_title}").strip()

    def buffers(self) -> str:
        """tmux's paste buffers (an OSC 52 clipboard write from the pane makes one)."""
        return self.tmux("list-buffers")

    def keys(self, *keys: str) -> None:
        self.tmux("send-keys", "-t", self.session, *keys)

    def until(self, check: Callable[[str], Any], timeout: float = 15.0) -> Any:
        """Poll the screen until ``check(screen)`` is truthy; its value."""
        deadline = time.monotonic() + timeout
        while True:
            text = self.screen()
            if value := check(text):
                return value
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {check.__qualname__}; screen:\n{text}")
            time.sleep(0.05)


@contextmanager
def terminal(folder: Path, command: list[str], *, tee: Path | None = None) -> Iterator[Terminal]:
    """``command`` in a 160×48 tmux pane in ``folder``; after it exits the pane says EXIT=n.

    With ``tee``, the command's stdout also goes, byte for byte, to that file.
    """
    server = f"cr-test-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    term = Terminal(server, "dash")
    env = {"XDG_CONFIG_HOME": str(folder / "xdg"), "TERM": "xterm-256color", "TZ": "UTC"}
    line = " ".join(
        ["env", *(f"{k}={shlex.quote(v)}" for k, v in env.items()), *map(shlex.quote, command)]
    )
    if tee is not None:
        line = f"{line} | tee {shlex.quote(str(tee))}"
    script = f"{line}; echo EXIT=$?; sleep 60"
    conf = folder / f".{server}.conf"
    conf.write_text("set -g set-clipboard on\n", encoding="utf-8")
    try:
        term.tmux(
            "-f", str(conf), "new-session", "-d", "-s", term.session, "-x", "160", "-y", "48",
            "-c", str(folder), "sh", "-c", script,
        )  # fmt: skip
        yield term
    finally:
        subprocess.run(["tmux", "-L", server, "kill-server"], capture_output=True, timeout=10)
