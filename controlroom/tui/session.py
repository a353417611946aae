"""Where the dashboard's swarm comes from: started here, or attached to over the socket.

``LocalSession`` owns a swarm in this process through the same ``SwarmHost``
as ``controlroom run`` — audit store, supervisor, control socket (so CLI verbs
and ``controlroom attach`` work while the dashboard runs) — and hands the
dashboard a ``LocalPort``. It opens in two steps so the first frame is never late:
``open()`` (fast, and where operator errors surface: a locked database, a
socket another control room holds) runs before the screen; ``start()`` (the
orphan scan, the first spawns) runs once the screen is up.

``RemoteSession`` attaches to a running swarm; it owns nothing, so quitting
only detaches. This module imports no Textual.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from controlroom.control import calls
from controlroom.control.api import ControlAPI
from controlroom.control.host import SwarmHost
from controlroom.control.port import ControlPort, LocalPort, RemotePort

if TYPE_CHECKING:
    from collections.abc import Callable

    from controlroom.control.host import Supervisor
    from controlroom.models import SwarmConfig

__all__ = ["LocalSession", "RemoteSession", "Session"]


class Session(Protocol):
    """What the dashboard needs of its swarm's origin."""

    owns_swarm: bool

    @property
    def socket_path(self) -> Path: ...

    async def open(self) -> ControlPort: ...

    async def start(self) -> None: ...

    def orphan_pids(self) -> list[tuple[int, str]]: ...

    async def close(self) -> None: ...


class LocalSession:
    """A swarm started and owned by this process: a ``SwarmHost`` behind a ``LocalPort``."""

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
        self.read_only = read_only
        self.host = SwarmHost(cfg, self.db, base_dir=base_dir or Path.cwd(), mode=mode)
        self.port: LocalPort | None = None

    @property
    def supervisor(self) -> Supervisor | None:
        return self.host.supervisor if self.port is not None else None

    @property
    def socket_path(self) -> Path:
        return self.host.socket_path

    @property
    def run_dir(self) -> Path:
        return self.host.supervisor.run_dir if self.port else Path(self.cfg.swarm.run_dir)

    async def open(self) -> LocalPort:
        """Open the audit store and the control socket; no agent runs yet."""
        await self.host.open()
        self.port = LocalPort(ControlAPI(self.host.supervisor, read_only=self.read_only))
        return self.port

    async def start(self) -> None:
        """Record the run, look for orphans, spawn the first stage."""
        await self.host.start()

    def orphan_pids(self) -> list[tuple[int, str]]:
        """(pid, description) of every orphan of an earlier run found at start."""
        if self.port is None:
            return []
        return [(o.pid, o.describe()) for o in self.host.supervisor.orphans]

    def unfinished(self) -> int:
        """Agents not yet in a final state (running, pending, gated, …)."""
        return self.host.unfinished()

    def terminal_notices(self, write: Callable[[str], None] | None) -> None:
        """Where ``channel = "terminal"`` notices go while the dashboard is up (None: not here)."""
        if self.host.notifier is not None:
            self.host.notifier.terminal = write

    async def stop_all(self, reason: str) -> int:
        """Stop every agent and wait for their kills to be recorded; how many were stopped."""
        stopping = self.host.stop(reason)
        reports = await stopping if stopping is not None else {}
        return len(reports)

    async def wait(self) -> bool:
        """Until every agent has ended; True when every one is done."""
        return await self.host.wait()

    async def close(self, outcome: str | None = None) -> None:
        """Record how the run ended and release the socket and the database (idempotent)."""
        await self.host.close(outcome)


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
            await port.call(calls.PING())
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
