"""Running the dashboard: in this process over a swarm it starts, or attached to one elsewhere.

``run_dashboard`` owns the process around the app: it opens the swarm before
the screen (so a locked database or a busy socket is one clear line, not a
broken screen), runs the app, and then does what the operator chose on quit
— stop every agent, or detach and keep the swarm running headless. Signals
are the process's: SIGTERM and SIGINT leave the screen and stop all, SIGHUP
(the terminal gone) detaches.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from controlroom.tui.app import ControlRoomApp
from controlroom.tui.desktop_notice import terminal_writer
from controlroom.tui.session import LocalSession, RemoteSession

if TYPE_CHECKING:
    from controlroom.models import SwarmConfig

__all__ = ["attach_dashboard", "run_dashboard"]


def run_dashboard(
    cfg: SwarmConfig,
    db: Path,
    *,
    mode: str = "tui",
    theme: str | None = None,
    read_only: bool = False,
) -> int:
    """Start ``cfg`` in this process under the dashboard; the exit code of the run.

    0 when every agent finished successfully, 1 otherwise (stopped, failed).
    """
    from controlroom.control.host import tune_interpreter

    tune_interpreter()
    session = LocalSession(cfg, Path(db), mode=mode, read_only=read_only)
    return asyncio.run(_run_local(session, theme or cfg.swarm.theme, read_only))


def attach_dashboard(
    socket_path: Path, *, theme: str | None = None, read_only: bool = False
) -> int:
    """Open the dashboard on a swarm running elsewhere; quitting leaves it running."""
    session = RemoteSession(Path(socket_path), read_only=read_only)

    async def run() -> int:
        port = await session.open()
        try:
            app = ControlRoomApp(session, port, theme=theme, read_only=read_only)
            await app.run_async()
        finally:
            await session.close()
        return 0

    return asyncio.run(run())


async def _run_local(session: LocalSession, theme: str | None, read_only: bool) -> int:
    port = await session.open()
    outcome: str | None = None
    ok = False
    try:
        app = ControlRoomApp(session, port, theme=theme, read_only=read_only)
        session.terminal_notices(terminal_writer(app))  # [[notify]] channel = "terminal"
        with _exit_on_signals(app):
            choice = await app.run_async()
        session.terminal_notices(None)
        _forget_terminal_signals()
        with session.host.signals():  # the screen is gone: signals stop the swarm (twice: now)
            if choice == "detach":
                _detach(session)
            elif choice == "stop" or session.unfinished():
                # "stop" (q → stop, SIGTERM, SIGINT) is the operator's stop even when the
                # quit dialog already stopped every agent: the run ends "stopped", not "failed".
                outcome = "stopped"
                session.host.stop("dashboard closed: stop all")
            ok = await session.wait()
    finally:
        await session.close(outcome)  # agents still running (a crash) are stopped first
    return 0 if ok and outcome is None and not session.host.interrupted else 1


@contextlib.contextmanager
def _exit_on_signals(app: ControlRoomApp) -> Any:
    """SIGTERM/SIGINT: leave the screen and stop all. SIGHUP (terminal gone): detach."""
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, app.exit, "stop")
    loop.add_signal_handler(signal.SIGINT, app.exit, "stop")
    loop.add_signal_handler(signal.SIGHUP, _hang_up, app)
    try:
        yield
    finally:
        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            loop.remove_signal_handler(signum)


def _hang_up(app: ControlRoomApp) -> None:
    """The terminal went away: point stdio at /dev/null so Textual can still shut down.

    Textual writes to the terminal from a thread through a bounded queue; with
    the terminal gone that thread dies on EIO and the next write blocks for
    ever. Writes into /dev/null succeed, the app exits, the swarm detaches.
    """
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    os.close(null)
    app.exit("detach")


def _forget_terminal_signals() -> None:
    """Undo the SIGTSTP/SIGCONT/SIGWINCH handlers Textual's driver leaves behind.

    Its SIGCONT handler re-enters application mode — on a screen that is gone:
    escape codes into the detached log, and input threads that keep the
    process alive after the run ends (SIGCONT comes with SIGHUP when the
    terminal closes).
    """
    for signum in (signal.SIGTSTP, signal.SIGCONT, signal.SIGWINCH):
        signal.signal(signum, signal.SIG_DFL)


def _detach(session: LocalSession) -> None:
    """Keep the swarm running with no screen: ignore SIGHUP, log to a file under run_dir.

    The log is the headless log (``SwarmHost.log_to``): committed events only.
    """
    log_path = session.run_dir / f"detached-{os.getpid()}.log"
    with contextlib.suppress(OSError):
        print(
            f"detached: the swarm keeps running (pid {os.getpid()}); "
            f"attach with: controlroom attach --socket {session.socket_path}\n"
            f"(log: {log_path}; closing this terminal is safe)",
            flush=True,
        )
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    null = os.open(os.devnull, os.O_RDONLY)
    sys.stdout.flush()
    sys.stderr.flush()
    os.dup2(null, 0)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)
    os.close(null)
    print(f"controlroom: detached (pid {os.getpid()}); swarm {session.cfg.swarm.name}", flush=True)
    session.host.log_to(sys.stdout)
