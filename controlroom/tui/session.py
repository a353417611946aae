"""Where the dashboard's swarm comes from: started here, or attached to over the socket.

``LocalSession`` owns a swarm in this process exactly as ``controlroom run``
does — audit store, supervisor, control socket (so CLI verbs and ``controlroom
attach`` work while the dashboard runs) — and hands the dashboard a
``LocalPort``. It opens in two steps so the first frame is never late:
``open()`` (fast, and where operator errors surface: a locked database, a
socket another control room holds) runs before the screen; ``start()`` (the
orphan scan, the first spawns) runs once the screen is up.

``RemoteSession`` attaches to a running swarm; it owns nothing, so quitting
only detaches. This module imports no Textual.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from controlroom.control.port import ControlPort, LocalPort, RemotePort

if TYPE_CHECKING:
    from controlroom.control.server import ControlSocketServer
    from controlroom.models import SwarmConfig
    from controlroom.store.writer import AuditStore
    from controlroom.swarm.supervisor import Supervisor

__all__ = ["LocalSession", "RemoteSession", "Session", "log_detached"]


class Session(Protocol):
    """What the dashboard needs of its swarm's origin."""

    owns_swarm: bool
    socket_path: Path

    async def open(self) -> ControlPort: ...

    async def start(self) -> None: ...

    def orphan_pids(self) -> list[tuple[int, str]]: ...

    async def close(self) -> None: ...


class LocalSession:
    """A swarm started and owned by this process."""

    owns_swarm = True

    def __init__(
        self,
        cfg: SwarmConfig,
        db: Path,
        *,
        mode: str = "tui",
        read_only: bool = False,
        base_dir: Path | None = None,
    ) -> None:
        self.cfg = cfg
        self.db = Path(db)
        self.mode = mode
        self.read_only = read_only
        self.base_dir = base_dir or Path.cwd()
        self.store: AuditStore | None = None
        self.supervisor: Supervisor | None = None
        self.server: ControlSocketServer | None = None
        self.port: LocalPort | None = None
        self.socket_path = Path(cfg.swarm.run_dir) / "control.sock"
        self.started = False
        self._closed = False

    @property
    def run_dir(self) -> Path:
        return self.supervisor.run_dir if self.supervisor else Path(self.cfg.swarm.run_dir)

    async def open(self) -> LocalPort:
        """Open the audit store and the control socket; no agent runs yet."""
        from controlroom.control.api import ControlAPI
        from controlroom.control.host import open_swarm

        opened = await open_swarm(self.cfg, self.db, base_dir=self.base_dir, mode=self.mode)
        store, supervisor, server = opened.store, opened.supervisor, opened.server
        self.store, self.supervisor, self.server = store, supervisor, server
        self.socket_path = server.path
        self.port = LocalPort(ControlAPI(supervisor, read_only=self.read_only))
        return self.port

    async def start(self) -> None:
        """Record the run, look for orphans, spawn the first stage."""
        assert self.supervisor is not None, "open() first"
        self.started = True
        await self.supervisor.start()

    def orphan_pids(self) -> list[tuple[int, str]]:
        """(pid, description) of every orphan of an earlier run found at start."""
        if self.supervisor is None:
            return []
        return [(o.pid, o.describe()) for o in self.supervisor.orphans]

    def unfinished(self) -> int:
        """Agents not yet in a final state (running, pending, gated, …)."""
        if self.supervisor is None or not self.started:
            return 0
        return sum(1 for r in self.supervisor.runners.values() if not r.is_final)

    async def stop_all(self, reason: str) -> dict[str, Any]:
        assert self.supervisor is not None
        reports = await self.supervisor.stop_all(by="operator", reason=reason)
        return {"stopped": len(reports)}

    async def wait(self) -> bool:
        """Until every agent has ended; True when every one is done."""
        if self.supervisor is None or not self.started:
            return True
        return await self.supervisor.wait()

    async def close(self, outcome: str | None = None) -> None:
        """Record how the run ended and release the socket and the database (idempotent)."""
        if self._closed:
            return
        self._closed = True
        try:
            if self.supervisor is not None and self.started:
                await self.supervisor.close(outcome)
        finally:
            if self.server is not None:
                await self.server.close()
            if self.store is not None:
                await self.store.close()


class RemoteSession:
    """A swarm owned by another process, reached over its control socket."""

    owns_swarm = False

    def __init__(self, socket_path: Path, *, read_only: bool = False) -> None:
        self.socket_path = Path(socket_path)
        self.read_only = read_only
        self.port: RemotePort | None = None

    async def open(self) -> RemotePort:
        """Connect and check a control room answers there (``ControlError`` if not)."""
        port = RemotePort(self.socket_path, read_only=self.read_only)
        try:
            await port.call("ping")
        except BaseException:
            await port.close()
            raise
        self.port = port
        return port

    async def start(self) -> None:
        return None

    def orphan_pids(self) -> list[tuple[int, str]]:
        return []

    async def close(self) -> None:
        if self.port is not None:
            with contextlib.suppress(OSError):
                await self.port.close()


async def log_detached(session: LocalSession, log_path: Path) -> None:
    """After a detach: the headless log lines of the still-running swarm, into ``log_path``."""
    from controlroom.text import format_line, worth_a_line

    assert session.supervisor is not None
    subscription = session.supervisor.bus.subscribe(maxsize=100_000)
    with log_path.open("a", encoding="utf-8") as out:
        out.write(f"controlroom: detached (pid {os.getpid()}); swarm {session.cfg.swarm.name}\n")
        out.flush()
        while (event := await subscription.get()) is not None:
            for item in (event, *subscription.drain()):
                if worth_a_line(item):
                    out.write(format_line(item) + "\n")
            out.flush()
            await asyncio.sleep(0)
