"""Delivering one notice: a webhook POST, a command's stdin, or the terminal.

Each raises ``DeliveryError`` with a short reason an operator can act on
(``HTTP 500 Internal Server Error``, ``exit 2: …``); the notifier applies the
timeout, retries and records the outcome. A command runs in its own
process group and is killed whole when it overruns its timeout or the run
ends: a hanging ``notify-send`` never outlives the control room.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import Callable
from typing import TextIO

import aiohttp

from controlroom.models import Notice, NotifySpec

__all__ = [
    "DeliveryError",
    "TerminalSink",
    "osc_notification",
    "post_webhook",
    "run_command",
    "tty_writer",
]

TerminalSink = Callable[[str], None]
"""Writes an escape sequence to the terminal the dashboard runs in (given by the TUI)."""


class DeliveryError(Exception):
    """A notice did not get through; the message says why, in a few words."""


def webhook_body(spec: NotifySpec, notice: Notice) -> dict[str, object]:
    """The documented JSON (``Notice``), or Slack's incoming-webhook shape."""
    if spec.format == "slack":
        return {"text": notice.text}
    return notice.model_dump(mode="json")


async def post_webhook(session: aiohttp.ClientSession, spec: NotifySpec, notice: Notice) -> None:
    try:
        async with session.post(spec.url, json=webhook_body(spec, notice)) as response:
            await response.read()
            if response.status >= 300:
                raise DeliveryError(f"HTTP {response.status} {response.reason or ''}".strip())
    except aiohttp.ClientError as exc:
        raise DeliveryError(f"{type(exc).__name__}: {exc}") from None


async def run_command(spec: NotifySpec, notice: Notice) -> None:
    """Run the argv with the notice as JSON on stdin; a non-zero exit is a failure."""
    try:
        proc = await asyncio.create_subprocess_exec(
            *spec.command,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
            start_new_session=True,
        )
    except OSError as exc:
        raise DeliveryError(f"cannot run {spec.command[0]}: {exc.strerror or exc}") from None
    try:
        _, err = await proc.communicate(notice.model_dump_json().encode() + b"\n")
    except BaseException:  # timed out or the run ended: its whole group goes
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        with contextlib.suppress(Exception):
            await asyncio.shield(proc.wait())
        raise
    if proc.returncode != 0:
        tail = err.decode(errors="replace").strip().splitlines()[-1:] or [""]
        raise DeliveryError(f"exit {proc.returncode}" + (f": {tail[0][:200]}" if tail[0] else ""))


def osc_notification(spec: NotifySpec, notice: Notice) -> str:
    """OSC 9 (iTerm2, kitty, WezTerm, Windows Terminal) or OSC 777 (foot, urxvt, WezTerm).

    ``notice.text`` is inert (no control characters), so it cannot end the
    sequence early; ``;`` is the only separator OSC 777 has.
    """
    if spec.format == "osc777":
        title = f"controlroom {notice.swarm}".replace(";", ",")
        return f"\x1b]777;notify;{title};{notice.text}\x07"
    return f"\x1b]9;{notice.text}\x07"


def tty_writer(stream: TextIO) -> TerminalSink | None:
    """A headless run's terminal: ``stream`` if it is one (a log file or a pipe is not)."""
    try:
        if not stream.isatty():
            return None
    except (OSError, ValueError):
        return None

    def write(sequence: str) -> None:
        stream.write(sequence)
        stream.flush()

    return write
