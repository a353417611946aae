"""Helpers for tests that run ``controlroom`` as a real process.

Shared by the headless, demo and control-CLI tests: run a verb to its end,
start a headless swarm and keep its pipes, and ask psutil whether a process
is still alive (a zombie counts as gone: its process has ended).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parent.parent


def controlroom(
    *args: str, cwd: Path, timeout: float = 60, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """``python -m controlroom ARGS`` to its end, output captured (``env`` adds variables)."""
    return subprocess.run(
        [sys.executable, "-m", "controlroom", *args],
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def start_controlroom(*args: str, cwd: Path) -> subprocess.Popen[str]:
    """``python -m controlroom ARGS`` started, with its stdout and stderr as pipes."""
    return subprocess.Popen(
        [sys.executable, "-m", "controlroom", *args],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def end_controlroom(
    proc: subprocess.Popen[Any], pids: Iterable[int] = (), grace: float = 20.0
) -> None:
    """End a control room a test started: SIGTERM (its own stop-all), SIGKILL after ``grace``;
    then, last resort, kill its agents' ``pids`` still there (ours only: the test recorded them).
    """
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
    for pid in pids:
        with contextlib.suppress(psutil.Error):
            psutil.Process(pid).kill()


def alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def wait_dead(pids: list[int], timeout: float = 15.0) -> list[int]:
    """The pids still alive after waiting up to ``timeout`` for all of them to end."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not any(alive(p) for p in pids):
            return []
        time.sleep(0.02)
    return [p for p in pids if alive(p)]
