"""The words of the operator's actions: each question and each answer, once.

A kill asked from the main screen, the agent screen or the command palette
asks the same question (``tui.actions.Operator``); its answer reads the same
in the dashboard's toast and in ``controlroom kill``'s output (``cli.control``
prints these functions' sentences): ``killed a: 3 processes in 41 ms, 0
survivors``, ``paused a (1 process stopped)``, with plurals spelled out, so an
operator who acts from either place reads one result. Refusals are not here:
the control API's own words (read-only, not running, decided elsewhere) are
shown as they come. Every name and title an agent chose passes ``inert_line``.
"""

from __future__ import annotations

from controlroom.inert import inert_line
from controlroom.models.state import AgentState
from controlroom.models.views import (
    AgentStateView,
    AgentView,
    GateView,
    KillView,
    ProcessesView,
    StopAllView,
)
from controlroom.text.numbers import counted, money

__all__ = [
    "Question",
    "approve_question",
    "approved",
    "breaker_reset",
    "gate_line",
    "kill_question",
    "killed",
    "paused",
    "processes",
    "processes_phrase",
    "reject_question",
    "rejected",
    "restart_question",
    "restarted",
    "resumed",
    "stop_all_summary",
    "survivors",
]

Question = tuple[str, str]
"""(title, body) of a confirm or a reason modal."""


def processes(count: int) -> str:
    """``1 process``, ``3 processes``."""
    return counted(count, "process", "processes")


def survivors(count: int) -> str:
    """``0 survivors``, ``1 survivor``: what a kill left alive."""
    return counted(count, "survivor")


def processes_phrase(agent: AgentView | None) -> str:
    """``pid 123, 3 processes in its tree``: what a kill of this agent touches."""
    if agent is None:
        return "not running"
    if agent.pid is None:
        return "no process"
    count = agent.meter.processes if agent.meter is not None else None
    if count is None:
        return f"pid {agent.pid}"
    return f"pid {agent.pid}, {processes(count)} in its tree"


def _grace(agent: AgentView) -> str:
    if agent.meter is None:
        return "after its grace period"
    return f"after {agent.meter.budget.kill_grace_seconds:g} s"


def kill_question(agent: AgentView) -> Question:
    """What a kill touches, how it goes, and what the agent has spent."""
    spent = agent.meter.cost_usd if agent.meter is not None else 0.0
    body = (
        f"{agent.name} is {agent.state} ({processes_phrase(agent)}). SIGTERM goes to its whole "
        f"process tree now, SIGKILL {_grace(agent)} if still alive; it is not restarted. "
        f"Spent so far: {money(spent)}."
    )
    return f"Kill agent {agent.name}?", body


def restart_question(agent: AgentView) -> Question:
    """A restart of an agent that is not out of budget (that one is asked for a new budget)."""
    how = "it is killed, then started" if agent.pid is not None else "it is started"
    body = (
        f"{agent.name} is {agent.state} ({processes_phrase(agent)}): {how} again from its "
        "task, with its meters reset."
    )
    return f"Restart agent {agent.name}?", body


def gate_line(gate: GateView) -> str:
    """``implementer: add the parser`` — whose gate, about what."""
    return inert_line(f"{gate.agent}: {gate.title or gate.kind}")


def reject_question(gate: GateView) -> Question:
    body = f"{gate_line(gate)}\nWhy? Recorded in the audit log; a retrying agent receives it."
    return f"Reject gate {gate.id}?", body


def approve_question(gate: GateView) -> Question:
    return f"Approve gate {gate.id}?", f"{gate_line(gate)}\nA note? Recorded in the audit log."


def killed(view: KillView) -> str:
    """``killed a: 3 processes in 41 ms, 0 survivors``."""
    took = f"{processes(view.processes)} in {view.duration_ms:.0f} ms"
    return f"killed {inert_line(view.agent)}: {took}, {survivors(view.survivors)}"


def paused(view: ProcessesView) -> str:
    return f"paused {inert_line(view.agent)} ({processes(view.processes)} stopped)"


def resumed(view: ProcessesView) -> str:
    return f"resumed {inert_line(view.agent)} ({processes(view.processes)} continued)"


def restarted(view: AgentStateView) -> str:
    return f"restarted {inert_line(view.agent)} (now {view.state})"


def breaker_reset(view: AgentStateView, restart: str = "R") -> str:
    """``breaker of a reset, now failed (R restarts it)``; ``restart`` is how, where it is read.

    The dashboard's key by default; the CLI names its verb (``controlroom restart a``).
    """
    again = f" ({restart} restarts it)" if view.state != AgentState.RUNNING else ""
    return f"breaker of {inert_line(view.agent)} reset, now {view.state}{again}"


def approved(gate: GateView) -> str:
    return f"approved {gate.id} ({gate_line(gate)})"


def rejected(gate: GateView) -> str:
    reason = gate.decision.reason if gate.decision is not None else ""
    return f"rejected {gate.id} ({gate_line(gate)}): {inert_line(reason)}"


def stop_all_summary(view: StopAllView) -> str:
    """``3 agents stopped in 41 ms, 0 survivors``, ``1 agent stopped …``."""
    took = f"{view.duration_ms:.0f} ms"
    return f"{counted(view.stopped, 'agent')} stopped in {took}, {survivors(view.survivors)}"
