"""What a run says first: that it started, the config it runs, the orphans earlier runs left.

Built from the config alone, so what ``run_started`` and ``config_loaded``
record (and a replay of the run reads back) is plain to see in one place.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from controlroom import __version__
from controlroom.models import ConfigLoaded, EventBase, OrphanFound, RunStarted, SwarmConfig
from controlroom.process.orphans import Orphan

__all__ = ["config_loaded", "orphans_found", "run_started"]


def run_started(config: SwarmConfig, mode: str) -> RunStarted:
    return RunStarted(swarm=config.swarm.name, pid=os.getpid(), version=__version__, mode=mode)


def config_loaded(config: SwarmConfig) -> ConfigLoaded:
    """The config as the run uses it: its file's hash, and what a replay needs to rebuild it."""
    return ConfigLoaded(
        path=config.source,
        agents=[spec.name for spec in config.agents],
        sha256=_file_sha256(config.source),
        budgets={spec.name: spec.budget for spec in config.agents},
        after={spec.name: list(spec.after) for spec in config.agents if spec.after},
        formats={spec.name: spec.format for spec in config.agents},
        max_cost_usd=config.swarm.max_cost_usd,
        pricing=dict(config.pricing),
    )


def orphans_found(orphans: list[Orphan]) -> list[EventBase]:
    return [
        OrphanFound(
            agent=orphan.agent,
            pid=orphan.pid,
            create_time=orphan.create_time,
            from_run=orphan.run,
        )
        for orphan in orphans
    ]


def _file_sha256(path: str) -> str:
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except OSError:
        return ""
