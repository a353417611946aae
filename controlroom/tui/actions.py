"""The one Operator: every action on the swarm, asked, sent and reported the same way.

A key on the main screen, the same key on the agent or the gate screen, and
a line of the command palette all call the app's one ``Operator``: each
action reads the target fresh from the port (the state an agent is in now,
not when the key was pressed), asks what it must (a confirm, a reason, a new
budget), makes one ``port.call``, and says what happened in a toast, with
the words of ``text.operator``. What may be done is the control API's to
say: a refusal (read-only, not running, decided elsewhere) arrives as its
exception class and is shown in its words, never matched by text.

One guard for all: an action already under way for the same target, or
pressed again within the debounce interval (a held key), is not started
twice — a second ``a`` on the gate screen while the main screen's approve
runs sends nothing. Each action runs as a worker of the app (group
``operator``), so a modal can be awaited and the action finishes even when
the screen that asked is closed. The host is any Textual app
(:class:`OperatorHost`); the Operator imports no app.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine
from functools import partial
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from controlroom._errors import (
    AgentNotFound,
    ControlRoomError,
    GateAlreadyDecided,
    GateNotFound,
    ReadOnly,
)
from controlroom.control import calls
from controlroom.control.calls import check_writable
from controlroom.models.config import Budget
from controlroom.models.state import AgentState, GateState
from controlroom.models.views import (
    AgentView,
    GateView,
    StopAllView,
    SwarmView,
)
from controlroom.text import operator as words
from controlroom.tui.alerts import Severity
from controlroom.tui.host import Decided
from controlroom.tui.keys import Debouncer
from controlroom.tui.screens.budget import BudgetLimits, BudgetModal
from controlroom.tui.screens.confirm import ConfirmModal
from controlroom.tui.screens.emergency import EmergencyStopModal
from controlroom.tui.screens.quit import QuitModal
from controlroom.tui.screens.reason import ReasonModal

if TYPE_CHECKING:
    from textual.screen import Screen
    from textual.worker import Worker

    from controlroom.control.port import ControlPort

__all__ = ["Banner", "Operator", "OperatorHost", "StopSwarm", "refusal"]

T = TypeVar("T")


class OperatorHost(Protocol):
    """What the Operator needs of its app: toasts, modals, workers, exit (any Textual App)."""

    def notify(
        self,
        message: str,
        *,
        title: str = ...,
        severity: Severity = ...,
        timeout: float | None = ...,
    ) -> None: ...

    async def push_screen_wait(self, screen: Screen[T]) -> T: ...

    def run_worker(
        self,
        work: Coroutine[Any, Any, None],
        name: str | None = ...,
        group: str = ...,
        description: str = ...,
        exit_on_error: bool = ...,
    ) -> Worker[None]: ...

    def exit(self, result: Any = ...) -> None: ...


class Banner(Protocol):
    """The dashboard's line under the header (``ControlRoomApp.set_banner``)."""

    def __call__(self, text: str, severity: str = ..., *, seconds: float = ...) -> None: ...


StopSwarm = Callable[[], Awaitable[StopAllView | None]]
"""Quit → stop: stops the swarm this dashboard owns; None when it was stopped another way."""


def refusal(op: str) -> str:
    """The read-only refusal of ``op``, in the control API's words (``check_writable``)."""
    try:
        check_writable(True, op)
    except ReadOnly as exc:
        return str(exc)
    return f"read-only: {op.replace('_', ' ')} is not allowed"


class Operator:
    """Carries out the operator's actions for ``host`` over ``port`` (``tui.host.Operations``)."""

    def __init__(
        self,
        host: OperatorHost,
        port: ControlPort,
        *,
        read_only: bool | None = None,
        banner: Banner | None = None,
        debouncer: Debouncer | None = None,
    ) -> None:
        """``read_only`` defaults to the port's; ``banner`` (none: toasts only) tells a stop-all."""
        self.host = host
        self.port = port
        self.read_only = port.read_only if read_only is None else read_only
        self._banner = banner
        self._debounce = debouncer or Debouncer()
        self._busy: set[str] = set()

    # ------------------------------------------------------------------ entry points

    def kill(self, agent: str) -> None:
        self._start(f"kill:{agent}", f"kill {agent}", partial(self._kill, agent), op="kill")

    def pause_or_resume(self, agent: str) -> None:
        self._start(f"pause:{agent}", f"pause {agent}", partial(self._pause, agent), op="pause")

    def restart(self, agent: str) -> None:
        work = partial(self._restart, agent)
        self._start(f"restart:{agent}", f"restart {agent}", work, op="restart")

    def reset_breaker(self, agent: str) -> None:
        what = f"reset the breaker of {agent}"
        self._start(f"breaker:{agent}", what, partial(self._reset, agent), op="reset_breaker")

    def approve(self, gate: str, *, note: bool = False, then: Decided | None = None) -> None:
        work = partial(self._decide, gate, approve=True, ask=note, then=then)
        self._start(f"gate:{gate}", f"approve {gate}", work, op="approve")

    def reject(self, gate: str, *, then: Decided | None = None) -> None:
        work = partial(self._decide, gate, approve=False, ask=True, then=then)
        self._start(f"gate:{gate}", f"reject {gate}", work, op="reject")

    def stop_all(self, running: int, total: int) -> None:
        work = partial(self._stop_all, running, total)
        self._start("stop_all", "EMERGENCY STOP ALL", work, op="stop_all")

    def quit(self, running: int, stop: StopSwarm) -> None:
        """Ask what becomes of ``running`` agents, then exit "stop" (after ``stop``) or "detach"."""
        self._start("quit", "quit", partial(self._quit, running, stop), op=None)

    # ------------------------------------------------------------------ the one guard

    def _start(
        self, key: str, what: str, work: Callable[[], Awaitable[None]], *, op: str | None
    ) -> None:
        if key in self._busy or not self._debounce.allow(key):
            return
        if op is not None and self.read_only:
            self.host.notify(refusal(op), severity="warning")
            return
        self._busy.add(key)

        async def run() -> None:
            try:
                await work()
            except ReadOnly as exc:
                self.host.notify(str(exc), severity="warning")
            except (ControlRoomError, OSError) as exc:
                self.host.notify(str(exc), title=what, severity="error", timeout=8)
            finally:
                self._busy.discard(key)

        self.host.run_worker(run(), group="operator", description=what, exit_on_error=False)

    # ------------------------------------------------------------------ reading and asking

    async def _swarm(self) -> SwarmView:
        return await self.port.snapshot()

    async def _agent(self, name: str) -> AgentView:
        agent = (await self._swarm()).agent(name)
        if agent is None:
            raise AgentNotFound(f"unknown agent {name!r}: it is not in this swarm")
        return agent

    async def _confirm(self, question: words.Question, label: str, danger: bool = True) -> bool:
        title, body = question
        confirmed: bool = await self.host.push_screen_wait(ConfirmModal(title, body, label, danger))
        return confirmed

    def _say(self, text: str, severity: Severity = "information") -> None:
        self.host.notify(text, severity=severity, timeout=6)

    # ------------------------------------------------------------------ agents

    async def _kill(self, name: str) -> None:
        agent = await self._agent(name)
        if not await self._confirm(words.kill_question(agent), "Kill"):
            return
        view = await self.port.call(calls.KILL(name))
        self._say(words.killed(view), "error" if view.survivors else "information")

    async def _pause(self, name: str) -> None:
        agent = await self._agent(name)
        if agent.state == AgentState.PAUSED:
            self._say(words.resumed(await self.port.call(calls.RESUME(name))))
        else:  # the API says why when the agent does not run
            self._say(words.paused(await self.port.call(calls.PAUSE(name))))

    async def _restart(self, name: str) -> None:
        agent = await self._agent(name)
        new_budget: BudgetLimits | None = None
        if agent.state == AgentState.BUDGET_STOPPED:
            old = agent.meter.budget if agent.meter is not None else Budget()
            new_budget = await self.host.push_screen_wait(BudgetModal(name, old))
            if new_budget is None:
                return
        elif not await self._confirm(
            words.restart_question(agent), "Restart", danger=agent.pid is not None
        ):
            return
        result = await self.port.call(calls.RESTART(name, new_budget))
        self._say(words.restarted(result))

    async def _reset(self, name: str) -> None:
        result = await self.port.call(calls.RESET_BREAKER(name))
        self._say(words.breaker_reset(result))

    # ------------------------------------------------------------------ gates

    async def _decide(
        self, gate_id: str, *, approve: bool, ask: bool, then: Decided | None
    ) -> None:
        op = "approve" if approve else "reject"
        try:
            reason = await self._reason(gate_id, approve) if ask else ""
            if reason is None:
                return
            request = calls.APPROVE(gate_id, reason) if approve else calls.REJECT(gate_id, reason)
            gate = await self.port.call(request)
        except GateAlreadyDecided as exc:  # before the question or after: nothing left to ask
            self.host.notify(str(exc), title=f"{op} {gate_id}", severity="error", timeout=8)
            if then is not None:
                then("decided elsewhere")
            return
        self._say(words.approved(gate) if approve else words.rejected(gate))
        if then is not None:
            then("approved" if approve else "rejected")

    async def _reason(self, gate_id: str, approve: bool) -> str | None:
        """The note of an approval (may be empty) or the reason of a rejection (required)."""
        gate = await self._pending_gate(gate_id)
        title, body = words.approve_question(gate) if approve else words.reject_question(gate)
        modal = ReasonModal(
            title,
            body,
            required=not approve,
            placeholder="note (optional)" if approve else "reason",
        )
        answer: str | None = await self.host.push_screen_wait(modal)
        return answer

    async def _pending_gate(self, gate_id: str) -> GateView:
        """The gate to ask about; refused as the control API refuses a decision of it."""
        found = await self.port.call(calls.GATES(every=True))
        gate = next((g for g in found if g.id == gate_id), None)
        if gate is None:
            raise GateNotFound(f"no gate {gate_id!r}")
        if gate.state != GateState.PENDING:  # asked nothing: the API would say the same
            raise GateAlreadyDecided(f"gate {gate.id} is already {gate.state}")
        return gate

    # ------------------------------------------------------------------ the whole swarm

    async def _stop_all(self, running: int, total: int) -> None:
        if not await self.host.push_screen_wait(EmergencyStopModal(running, total)):
            return
        self._show_banner("EMERGENCY STOP: stopping every agent…", "error", 0)
        view = await self.port.call(calls.STOP_ALL())
        text = words.stop_all_summary(view)
        severity: Severity = "error" if view.survivors else "warning"
        self.host.notify(text, title="EMERGENCY STOP", severity=severity, timeout=20)
        self._show_banner(f"EMERGENCY STOP: {text}", severity, 60)

    async def _quit(self, running: int, stop: StopSwarm) -> None:
        choice = await self.host.push_screen_wait(QuitModal(running))
        if choice == "stop":
            self._show_banner("stopping every agent before quitting…", "error", 0)
            view = await stop()
            if view is not None:
                self.host.notify(words.stop_all_summary(view), title="stopped", timeout=5)
            self.host.exit("stop")
        elif choice == "detach":
            self.host.exit("detach")

    def _show_banner(self, text: str, severity: str, seconds: float) -> None:
        if self._banner is not None:
            self._banner(text, severity, seconds=seconds)
