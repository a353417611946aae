"""What a run says first and last: that it started, its config and orphans; how it ended.

Built from plain data, so what ``run_started``, ``config_loaded`` and
``run_ended`` record (and a replay of the run reads back) is plain to see in
one place.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from controlroom import __version__
from controlroom.models import (
    ConfigLoaded,
    EventBase,
    OrphanFound,
    RunEnded,
    RunStarted,
    SwarmConfig,
)
from controlroom.policy.meters import SwarmMeterSnapshot
from controlroom.process.orphans import Orphan

__all__ = ["config_loaded", "orphans_found", "run_ended", "run_started"]


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


def run_ended(
    outcome: str | None,
    detail: str,
    audit_stopped_for: str | None,
    all_done: bool,
    spent: SwarmMeterSnapshot,
) -> RunEnded:
    """How the run ended (the caller's word, else a stop for the audit log, else whether every
    agent is done) and what its meters counted: the figures its usage rows must add up to."""
    if outcome is None and audit_stopped_for is not None:
        outcome, detail = "audit_failed", detail or audit_stopped_for
    if outcome is None:
        outcome = "success" if all_done else "failed"
    return RunEnded(
        outcome=outcome,
        detail=detail,
        total_tokens=spent.total_tokens,
        cost_usd=round(spent.cost_usd, 6),
    )


def _file_sha256(path: str) -> str:
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except OSError:
        return ""
