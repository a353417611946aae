"""The demo swarm shipped inside the package: ``controlroom demo`` needs no key and no network.

Eight agents on real model traffic (configured in ``swarm.toml``, which is
meant to be read): seven built-in workers (``controlroom agent``) and a
runaway that speaks the Messages API itself (``agents/runaway.py``), all
through the metering proxy to a simulated model on 127.0.0.1
(``simulator.py``; what it answers each agent is ``story.py``), so every
meter is a wire meter. They show every guarantee within about a minute: a three-stage
pipeline (architect → implementer → reviewer) whose handoffs wait at review
gates, two workers in parallel, a runaway the budget governor stops at its
token cap, a flaky agent whose circuit breaker opens after three crashes, an
agent that asks the operator "deploy to staging?" itself, and a swarm cost cap
that stays visible and is never reached.

``demo_config`` builds the validated ``SwarmConfig``: it loads ``swarm.toml``,
fills in ``{python}`` (this interpreter), ``{agents}`` (the runaway's folder
inside the installed package) and ``{backoff}`` (the worker's retry delay,
shortened by the speed), and puts the audit log and the run folder in the
current directory, not next to the packaged file. ``demo_simulator`` then
starts the model and points the config's ``[proxy] upstream`` at it.
"""

from __future__ import annotations

import math
import sys
from importlib.resources import files
from pathlib import Path

from controlroom._errors import ControlRoomError
from controlroom.models import AgentState, SwarmConfig

__all__ = [
    "DEMO_DB",
    "DEMO_RUN_DIR",
    "EXPECTED_FINAL_STATES",
    "demo_config",
    "demo_folder",
]

DEMO_DB = "controlroom-demo.db"
"""The demo's audit log, in the current directory unless ``--db`` says otherwise."""

DEMO_RUN_DIR = ".controlroom-demo"
"""The demo's run folder (control socket, handoff files), in the current directory."""

WORKER_BACKOFF_SECONDS = 0.5
"""The workers' first retry delay at speed 1 (it doubles each retry)."""

EXPECTED_FINAL_STATES: dict[str, str] = {
    "architect": AgentState.DONE,
    "implementer": AgentState.DONE,
    "reviewer": AgentState.DONE,
    "docs-writer": AgentState.DONE,
    "test-writer": AgentState.DONE,
    "runaway": AgentState.BUDGET_STOPPED,
    "flaky": AgentState.BREAKER_OPEN,
    "deploy-bot": AgentState.DONE,
}
"""How each demo agent ends when the demo runs as designed (and every gate is approved)."""


def demo_folder() -> Path:
    """The installed ``controlroom/demo`` folder: ``swarm.toml`` and ``agents/`` live here."""
    folder = files(__name__)
    if not isinstance(folder, Path):  # e.g. imported from a zip: scripts cannot run from there
        raise ControlRoomError(
            f"the demo needs controlroom installed as files, not inside an archive ({folder})"
        )
    return folder


def demo_config(
    db: Path | None = None, run_dir: Path | None = None, speed: float = 1.0
) -> SwarmConfig:
    """The demo swarm, ready to run.

    ``db`` defaults to ./controlroom-demo.db and ``run_dir`` to ./.controlroom-demo
    (both made absolute against the current directory). ``speed`` divides the
    workers' retry backoff and the flaky agent's restart backoff (and, in
    ``demo_simulator``, the model's pace): 10 runs the whole demo in a few
    seconds; token counts and costs do not change with it.
    """
    if not (isinstance(speed, int | float) and math.isfinite(speed) and speed > 0):
        raise ValueError(f"speed must be a positive number (got {speed!r})")
    if not sys.executable:
        raise ControlRoomError("the demo needs the path of the Python interpreter (sys.executable)")
    from controlroom.config import load_config

    folder = demo_folder()
    cfg = load_config(folder / "swarm.toml")
    values = {
        "{python}": sys.executable,
        "{agents}": str(folder / "agents"),
        "{backoff}": f"{WORKER_BACKOFF_SECONDS / speed:g}",
    }
    agents = []
    for spec in cfg.agents:
        command = [_fill(arg, values) for arg in spec.command]
        for arg, filled in zip(spec.command, command, strict=True):
            if arg.startswith("{agents}") and not Path(filled).is_file():
                raise ControlRoomError(f"demo agent {spec.name!r}: script {filled} is missing")
        breaker = spec.breaker.model_copy(
            update={
                "backoff_seconds": spec.breaker.backoff_seconds / speed,
                "backoff_max_seconds": spec.breaker.backoff_max_seconds / speed,
            }
        )
        agents.append(spec.model_copy(update={"command": command, "breaker": breaker}))
    swarm = cfg.swarm.model_copy(
        update={
            "audit_db": str((db or Path(DEMO_DB)).absolute()),
            "run_dir": str((run_dir or Path(DEMO_RUN_DIR)).absolute()),
        }
    )
    return cfg.model_copy(update={"swarm": swarm, "agents": agents})


def _fill(arg: str, values: dict[str, str]) -> str:
    for placeholder, value in values.items():
        arg = arg.replace(placeholder, value)
    return arg
