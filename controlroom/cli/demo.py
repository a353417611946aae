"""``controlroom demo``: the built-in demo swarm; no API key, no network, about a minute.

The agents are real programs on real model traffic: the demo starts a
simulated model on 127.0.0.1 for the run (``controlroom.demo.simulator``) and
every request goes through the metering proxy to it.

Without ``--headless`` it opens the dashboard in demo mode, where the
operator decides the gates. With ``--headless`` it prints the event log and
an auto-operator decides them (see ``controlroom.demo.operator``): every gate
is approved after 2 s (divided by ``--speed``), except the implementer's first
handoff, which is rejected once so that a retry is visible.

Exit code: the demo includes agents that fail by design (the runaway is
stopped by its budget, the flaky agent's breaker opens), so ``demo
--headless`` exits 0 when every agent reached the final state it is designed
to reach (``controlroom.demo.EXPECTED_FINAL_STATES``) and 1 otherwise,
Ctrl-C included.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from controlroom.models import SwarmConfig

__all__ = ["add_parser", "run_demo", "run_headless_demo"]

GATE_DELAY_SECONDS = 2.0
"""How long the headless auto-operator lets a gate wait (at speed 1) before deciding it."""


def _speed(value: str) -> float:
    try:
        speed = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {value!r}") from None
    if not (math.isfinite(speed) and speed > 0):
        raise argparse.ArgumentTypeError(f"must be a positive number (got {value})")
    return speed


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="run the built-in demo swarm (no API key, no network)",
        description="Run a demo swarm of eight agents on a simulated model, metered at the "
        "wire, that shows every feature in about a minute: review gates, budgets, a runaway "
        "stopped by the governor, a circuit breaker, an agent asking for approval. The audit "
        "log goes to ./controlroom-demo.db.",
    )
    parser.add_argument(
        "--db", metavar="PATH", help="audit database (default: ./controlroom-demo.db)"
    )
    parser.add_argument(
        "--headless",
        action="store_true",
        help="no dashboard: print the event log; gates are decided automatically",
    )
    parser.add_argument(
        "--speed",
        type=_speed,
        default=1.0,
        metavar="X",
        help="make the model X times faster (default 1; 10 runs the demo in seconds)",
    )
    parser.set_defaults(handler=run_demo)


def run_demo(args: argparse.Namespace) -> int:
    import asyncio

    from controlroom.demo import demo_config
    from controlroom.demo.simulator import demo_simulator

    db = Path(args.db) if args.db else None
    cfg = demo_config(db, None, args.speed)
    db_path = Path(cfg.swarm.audit_db)
    db_path.parent.mkdir(parents=True, exist_ok=True)
    run_dashboard = None if args.headless else _dashboard()
    with demo_simulator(cfg, args.speed) as (cfg, _):
        if run_dashboard is not None:
            return int(run_dashboard(cfg, db_path, mode="demo"))
        return asyncio.run(run_headless_demo(cfg, db_path, speed=args.speed))


def _dashboard() -> Any:
    """``controlroom.tui.running.run_dashboard``, imported only now (Textual is heavy)."""
    from importlib import import_module

    from controlroom._errors import ControlRoomError

    unavailable = ControlRoomError(
        "the dashboard is not available yet; use 'controlroom demo --headless'"
    )
    try:
        app = import_module("controlroom.tui.running")
    except ModuleNotFoundError as exc:
        if exc.name in ("controlroom.tui.running", "controlroom.tui.app", "controlroom.tui"):
            raise unavailable from None
        raise
    run_dashboard = getattr(app, "run_dashboard", None)
    if run_dashboard is None:
        raise unavailable
    return run_dashboard


async def run_headless_demo(cfg: SwarmConfig, db: Path, *, speed: float = 1.0) -> int:
    """Run the demo with the auto-operator; 0 when every agent ended as designed."""
    from controlroom.cli.run import run_swarm
    from controlroom.control.api import ControlAPI
    from controlroom.demo import EXPECTED_FINAL_STATES
    from controlroom.demo.operator import AutoOperator

    delay = GATE_DELAY_SECONDS / speed
    print(
        f"controlroom demo: {len(cfg.agents)} agents, audit log {db}\n"
        f"controlroom demo: gates are approved after {delay:g} s; the implementer's first "
        "handoff is rejected once, to show a retry",
        file=sys.stderr,
        flush=True,
    )
    started: list[ControlAPI] = []
    operators: list[AutoOperator] = []

    async def start_operator(api: ControlAPI) -> None:
        started.append(api)
        operator = AutoOperator(api, delay=delay)
        operators.append(operator)
        operator.start()

    try:
        await run_swarm(cfg, db, mode="demo", on_start=start_operator)
    finally:
        for operator in operators:
            await operator.close()
    if not started:
        return 1
    states = {agent.name: agent.state for agent in started[0].snapshot().agents}
    wrong = {
        name: state for name, state in states.items() if EXPECTED_FINAL_STATES.get(name) != state
    }
    for name, state in states.items():
        mark = "ok" if name not in wrong else f"expected {EXPECTED_FINAL_STATES.get(name)}"
        print(f"demo: {name:<14} {state:<15} {mark}")
    if wrong:
        print("demo: did NOT run as designed", flush=True)
        return 1
    print(
        "demo: every agent ended as designed (the runaway and the flaky agent fail on purpose)",
        flush=True,
    )
    return 0
