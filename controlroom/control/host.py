"""Opening a swarm for a run: audit store, supervisor and control socket, in that order.

Shared by ``controlroom run --headless`` and the dashboard, so both open a
run the same way: the store first (it takes the database's run lock, so a
second control room is refused before anything else happens), then the
supervisor, then the control socket, which is listening before any agent
starts. Nothing runs yet: the caller starts the supervisor.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from controlroom.control.api import ControlAPI
from controlroom.control.server import ControlSocketServer
from controlroom.models import SwarmConfig, new_run_id
from controlroom.store.writer import AuditStore
from controlroom.swarm.supervisor import Supervisor

__all__ = ["OpenSwarm", "open_swarm"]


@dataclass
class OpenSwarm:
    store: AuditStore
    supervisor: Supervisor
    server: ControlSocketServer


async def open_swarm(cfg: SwarmConfig, db: Path, *, base_dir: Path, mode: str) -> OpenSwarm:
    """A new run of ``cfg`` writing to ``db``, its socket listening; no agent started."""
    run_id = new_run_id()
    store = await AuditStore.open(
        db, run_id, secrets=cfg.secret_values(), anchor_file=cfg.swarm.anchor_file
    )
    supervisor = Supervisor(cfg, store, run_id=run_id, base_dir=base_dir, mode=mode)
    server = ControlSocketServer(ControlAPI(supervisor), supervisor.run_dir / "control.sock")
    try:
        await server.start()
    except BaseException:
        await store.close()
        raise
    return OpenSwarm(store, supervisor, server)
