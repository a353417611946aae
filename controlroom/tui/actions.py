"""The operator's actions on the swarm, asked and reported the same way from every key.

A key on the main screen and a line in the command palette both come here:
each action asks what it must (a confirm, a reason, a new budget), makes one
``port.call``, and says what happened in a toast. Each runs as a named
worker (group ``operator``) so a modal can be awaited without blocking the
screen, and an action already under way for the same target is not started
twice (a second ``x`` while the kill confirm is open does nothing).
"""

from __future__ import annotations

from collections.abc import Coroutine, Mapping
from typing import TYPE_CHECKING, Any

from controlroom._errors import ControlRoomError
from controlroom.text import money
from controlroom.tui.alerts import Severity

if TYPE_CHECKING:
    from controlroom.tui.app import ControlRoomApp

__all__ = ["Operator", "stop_all_summary"]


def stop_all_summary(result: Mapping[str, Any]) -> str:
    """``3 agents stopped in 41 ms, 0 survivors`` from a ``stop_all`` result."""
    stopped = int(result.get("stopped") or 0)
    survivors = int(result.get("survivors") or 0)
    ms = float(result.get("duration_ms") or 0.0)
    noun = "agent" if stopped == 1 else "agents"
    return f"{stopped} {noun} stopped in {ms:.0f} ms, {survivors} survivors"


class Operator:
    """Runs the operator's actions for ``app`` (its port, its modals, its toasts)."""

    def __init__(self, app: ControlRoomApp) -> None:
        self.app = app
        self._busy: set[str] = set()

    # ------------------------------------------------------------------ entry points

    def kill(self, agent: Mapping[str, Any]) -> None:
        self._start(f"kill:{agent['name']}", self._kill(agent), f"kill {agent['name']}")

    def pause_or_resume(self, agent: Mapping[str, Any]) -> None:
        self._start(f"pause:{agent['name']}", self._pause(agent), f"pause {agent['name']}")

    def restart(self, agent: Mapping[str, Any]) -> None:
        self._start(f"restart:{agent['name']}", self._restart(agent), f"restart {agent['name']}")

    def reset_breaker(self, agent: Mapping[str, Any]) -> None:
        name = agent["name"]
        self._start(f"breaker:{name}", self._reset_breaker(agent), f"reset breaker of {name}")

    def approve(self, gate: Mapping[str, Any]) -> None:
        self._start(f"gate:{gate['id']}", self._approve(gate), f"approve {gate['id']}")

    def reject(self, gate: Mapping[str, Any]) -> None:
        self._start(f"gate:{gate['id']}", self._reject(gate), f"reject {gate['id']}")

    def stop_all(self) -> None:
        self._start("stop_all", self._stop_all(), "EMERGENCY STOP ALL")

    def quit(self) -> None:
        self._start("quit", self._quit(), "quit")

    # ------------------------------------------------------------------ plumbing

    def _start(self, key: str, work: Coroutine[Any, Any, None], description: str) -> None:
        if key in self._busy:
            work.close()
            return
        self._busy.add(key)

        async def run() -> None:
            try:
                await work
            except ControlRoomError as exc:
                self.app.notify(str(exc), title=description, severity="error", timeout=8)
            finally:
                self._busy.discard(key)

        self.app.run_worker(run(), group="operator", description=description, exit_on_error=False)

    def _refused(self, what: str) -> bool:
        if self.app.read_only:
            self.app.notify(f"read-only: {what} is not allowed", severity="warning")
            return True
        return False

    async def _call(self, op: str, args: dict[str, Any]) -> Any:
        return await self.app.port.call(op, args)

    # ------------------------------------------------------------------ actions

    async def _kill(self, agent: Mapping[str, Any]) -> None:
        from controlroom.tui.screens.confirm import ConfirmModal

        name = str(agent["name"])
        if self._refused("kill"):
            return
        meter = agent.get("meter") or {}
        grace = (meter.get("budget") or {}).get("kill_grace_seconds", 5)
        procs = meter.get("processes")
        tree = "its whole process tree"
        if procs:
            tree += f" ({procs} process{'es' if procs != 1 else ''})"
        body = (
            f"{name} is {agent.get('state')}. SIGTERM goes to {tree}, SIGKILL after "
            f"{grace:g} s. Spent so far: {money(meter.get('cost_usd', 0.0))}."
        )
        if not await self.app.push_screen_wait(ConfirmModal(f"Kill agent {name}?", body, "Kill")):
            return
        result = await self._call("kill", {"agent": name})
        survivors = int(result.get("survivors") or 0)
        self.app.notify(
            f"{name} killed: {result.get('processes', 0)} processes in "
            f"{float(result.get('duration_ms') or 0):.0f} ms, {survivors} survivors",
            severity="error" if survivors else "information",
        )

    async def _pause(self, agent: Mapping[str, Any]) -> None:
        name = str(agent["name"])
        state = agent.get("state")
        if state not in ("running", "paused"):
            self.app.notify(f"{name} is {state}: only a running agent pauses", severity="warning")
            return
        if self._refused("pause"):
            return
        op = "resume" if state == "paused" else "pause"
        await self._call(op, {"agent": name})
        self.app.notify(f"{name} {op}d")

    async def _restart(self, agent: Mapping[str, Any]) -> None:
        from controlroom.tui.screens.budget import BudgetModal
        from controlroom.tui.screens.confirm import ConfirmModal

        name = str(agent["name"])
        if self._refused("restart"):
            return
        new_budget: dict[str, Any] | None = None
        if agent.get("state") == "budget_stopped":
            budget = dict((agent.get("meter") or {}).get("budget") or {})
            new_budget = await self.app.push_screen_wait(BudgetModal(name, budget))
            if new_budget is None:
                return
        else:
            alive = agent.get("pid") is not None
            body = (
                f"{name} is {agent.get('state')}: it will be killed and started again."
                if alive
                else f"{name} is {agent.get('state')}: it will be started again."
            )
            confirm = ConfirmModal(f"Restart {name}?", body, "Restart", danger=alive)
            if not await self.app.push_screen_wait(confirm):
                return
        await self._call("restart", {"agent": name, "new_budget": new_budget})
        self.app.notify(f"{name} restarted")

    async def _reset_breaker(self, agent: Mapping[str, Any]) -> None:
        name = str(agent["name"])
        if not agent.get("breaker_open"):
            self.app.notify(f"{name}: its breaker is not open", severity="warning")
            return
        if self._refused("reset breaker"):
            return
        await self._call("reset_breaker", {"agent": name})
        self.app.notify(f"{name}: breaker reset (R restarts it)")

    async def _approve(self, gate: Mapping[str, Any]) -> None:
        if self._refused("approve"):
            return
        await self._call("approve", {"gate": gate["id"], "reason": ""})
        self.app.notify(f"approved {gate['id']} ({gate.get('agent')}: {gate.get('title') or ''})")

    async def _reject(self, gate: Mapping[str, Any]) -> None:
        from controlroom.tui.screens.reason import ReasonModal

        if self._refused("reject"):
            return
        modal = ReasonModal(
            f"Reject gate {gate['id']}?",
            f"{gate.get('agent')}: {gate.get('title') or gate.get('kind')}\n"
            "Why? (recorded in the audit log, and told the agent)",
            required=True,
        )
        reason = await self.app.push_screen_wait(modal)
        if not reason:
            return
        await self._call("reject", {"gate": gate["id"], "reason": reason})
        self.app.notify(f"rejected {gate['id']}: {reason}")

    async def _stop_all(self) -> None:
        from controlroom.tui.screens.emergency import EmergencyStopModal

        if self._refused("stop all"):
            return
        totals = (self.app.last_snapshot or {}).get("totals") or {}
        running = int(totals.get("running") or 0)
        total = int(totals.get("agents") or 0)
        if not await self.app.push_screen_wait(EmergencyStopModal(running, total)):
            return
        self.app.set_banner("EMERGENCY STOP: stopping every agent…", "error", seconds=0)
        result = await self._call("stop_all", {"grace": None})
        text = stop_all_summary(result)
        severity: Severity = "error" if int(result.get("survivors") or 0) else "warning"
        self.app.notify(text, title="EMERGENCY STOP", severity=severity, timeout=20)
        self.app.set_banner(f"EMERGENCY STOP: {text}", severity, seconds=60)

    async def _quit(self) -> None:
        from controlroom.tui.screens.quit import QuitModal

        running = self.app.unfinished_agents()
        choice = await self.app.push_screen_wait(QuitModal(running))
        if choice == "stop":
            self.app.set_banner("stopping every agent before quitting…", "error", seconds=0)
            result = await self.app.stop_owned_swarm()
            if result is not None:
                self.app.notify(stop_all_summary(result), title="stopped", timeout=5)
            self.app.exit("stop")
        elif choice == "detach":
            self.app.exit("detach")
