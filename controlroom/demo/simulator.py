"""The demo's model: a simulator on 127.0.0.1, in the demo's own process, behind the proxy.

``controlroom demo`` starts it before the swarm and stops it after: every
agent's model traffic goes through the metering proxy (swap mode) to it, so
every meter in the demo is a wire meter, with no key and no network. The
operator's key is one the demo makes up (``DEMO_KEY_ENV``): the simulator
requires it, as the real API requires a real one, and no agent ever sees it;
they get per-agent keys from the proxy.

A request follows the script of the agent whose task its first message
carries (``Your task: …``, as the worker and the runaway write it); a task
re-run after a rejection follows the implementer's retry script.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager

from controlroom.demo.story import IMPLEMENTER_RETRY, RETRY_MARKER, SCRIPTS
from controlroom.models import SwarmConfig
from controlroom.sim import Script, SimServer, Turn

__all__ = ["DEMO_KEY_ENV", "demo_routes", "demo_simulator"]

DEMO_KEY_ENV = "CONTROLROOM_DEMO_KEY"
"""Where the demo puts the made-up operator key ([proxy] upstream_key_env in swarm.toml)."""

_UNSCRIPTED = Script([Turn.say("(the demo's model has no script for this task)")])


def demo_routes(cfg: SwarmConfig) -> dict[str, Script]:
    """Route key (text in a request's first message) → script; the retry's key first."""
    routes: dict[str, Script] = {RETRY_MARKER: IMPLEMENTER_RETRY}
    for spec in cfg.agents:
        script = SCRIPTS.get(spec.name)
        if script is not None and spec.task:
            routes[f"Your task: {spec.task}"] = script
    return routes


@contextmanager
def demo_simulator(cfg: SwarmConfig, speed: float = 1.0) -> Iterator[tuple[SwarmConfig, SimServer]]:
    """The simulator for ``cfg``'s agents, paced by ``speed``, and ``cfg`` pointed at it.

    The key is set in this process's environment for the supervisor's proxy
    (agents get only what their allowlist names) and removed afterwards.
    """
    key = "sk-demo-" + secrets.token_urlsafe(24)
    sim = SimServer(_UNSCRIPTED, routes=demo_routes(cfg), api_key=key, pace=1.0 / speed)
    previous = os.environ.get(DEMO_KEY_ENV)
    os.environ[DEMO_KEY_ENV] = key
    try:
        with sim:
            proxy = cfg.proxy.model_copy(update={"upstream": sim.url})
            yield cfg.model_copy(update={"proxy": proxy}), sim
    finally:
        if previous is None:
            os.environ.pop(DEMO_KEY_ENV, None)
        else:
            os.environ[DEMO_KEY_ENV] = previous
