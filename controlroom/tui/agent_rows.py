"""An agent's row in the agent table, as data: text and colour variable per column.

Pure functions of a snapshot's ``AgentView`` (and its burn-rate history), so the
table can compare a row with what it shows and redraw only rows that changed,
and tests can check the words without a screen. Colours are named by the
theme's CSS variables (``status-running``, ``meter-warn``, ``sparkline``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from controlroom.models.attention import Attention
from controlroom.models.views import AgentView, MeterView
from controlroom.policy.attention import attention_key, attention_of
from controlroom.text import (
    bytes_short,
    changes_cell,
    duration,
    limit_label,
    money,
    tokens_short,
)
from controlroom.tui.cells import STATE_GLYPHS, bar, meter_level, sparkline, tightest

__all__ = [
    "COLUMNS",
    "SORTS",
    "Cell",
    "agent_attention",
    "agent_cells",
    "files_cell",
    "matches",
]

Cell = tuple[str, str | None]
"""A cell as data: its text and the CSS variable that colours it (None: default)."""

COLUMNS: tuple[tuple[str, str, int], ...] = (
    ("name", "Agent", 14),
    ("state", "State", 16),
    ("tokens", "Tok in/out", 11),
    ("cost", "Cost", 8),
    ("files", "Files ±", 11),
    ("budget", "Budget", 17),
    ("burn", "Burn tok/min", 15),
    ("elapsed", "Time/limit", 13),
    ("cpu", "CPU", 4),
    ("rss", "RSS", 5),
    ("procs", "Proc", 4),
    ("breaker", "Breaker", 7),
    ("pid", "PID", 7),
)
"""(column key, header, width) of every column, in order."""

_SPARK_WIDTH = 8


def agent_attention(agent: AgentView) -> Attention:
    """The attention group of a snapshot's agent (policy.attention decides)."""
    return attention_of(
        agent.state,
        breaker_open=agent.breaker_open,
        budget_fraction=tightest(agent.meter)[1],
    )


def _by_attention(agent: AgentView) -> tuple[int, float, str]:
    return attention_key(
        agent.name,
        agent.state,
        breaker_open=agent.breaker_open,
        budget_fraction=tightest(agent.meter)[1],
    )


def _spent(figure: Callable[[MeterView], float]) -> Callable[[AgentView], tuple[float, str]]:
    """Biggest first by a meter's ``figure`` (an agent without a meter counts 0), then by name."""
    return lambda a: (-(figure(a.meter) if a.meter is not None else 0.0), a.name)


SORTS: tuple[tuple[str, Callable[[AgentView], Any]], ...] = (
    ("attention", _by_attention),
    ("name", lambda a: a.name),
    ("cost", _spent(lambda m: m.cost_usd)),
    ("tokens", _spent(lambda m: m.total_tokens)),
    ("burn", _spent(lambda m: m.tokens_per_minute)),
    ("budget", lambda a: (-(tightest(a.meter)[1] or 0.0), a.name)),
    ("elapsed", _spent(lambda m: m.elapsed_seconds)),
)
"""(column key, sort key) the ``s`` key cycles through: who needs the operator first (the
default), then by name, then big spenders first."""


def files_cell(agent: AgentView) -> Cell:
    """What the agent really changed: ``3 +52-3`` files and lines (``-``: not tracked)."""
    changes = agent.changes
    if not changes.tracked:
        return ("-", None)
    return (changes_cell(changes.files, changes.added, changes.removed), None)


def agent_cells(agent: AgentView, burn: Iterable[float]) -> tuple[Cell, ...]:
    """Every cell of an agent's row, as data (one entry per ``COLUMNS``)."""
    state = agent.state
    state_var = "status-" + state.replace("_", "-")
    meter = agent.meter
    pid = agent.pid
    breaker: Cell = ("OPEN", "status-breaker-open") if agent.breaker_open else ("ok", None)
    if meter is None:
        blank: Cell = ("-", None)
        return (
            (agent.name, None),
            (f"{STATE_GLYPHS.get(state, '?')} {state}", state_var),
            blank,
            blank,
            files_cell(agent),
            blank,
            blank,
            blank,
            blank,
            blank,
            blank,
            breaker,
            (str(pid) if pid else "-", None),
        )
    limit, fraction = tightest(meter)
    if fraction is None:
        budget: Cell = ("no limit", None)
    else:
        short = limit_label(limit or "", short=True)
        budget = (
            f"{bar(fraction, 6)} {fraction:>4.0%} {short}",
            f"meter-{meter_level(fraction)}",
        )
    wall = meter.budget.max_wall_seconds
    elapsed = duration(meter.elapsed_seconds)
    alive = pid is not None  # the resource columns show the live process only
    cpu = meter.cpu_percent if alive else None
    procs = meter.processes if alive else None
    return (
        (agent.name, None),
        (f"{STATE_GLYPHS.get(state, '?')} {state}", state_var),
        (f"{tokens_short(meter.input_tokens)}/{tokens_short(meter.output_tokens)}", None),
        (money(meter.cost_usd), None),
        files_cell(agent),
        budget,
        (
            f"{sparkline(burn, _SPARK_WIDTH)} {tokens_short(meter.tokens_per_minute)}",
            "sparkline",
        ),
        (f"{elapsed}/{duration(wall)}" if wall else elapsed, None),
        ("-" if cpu is None else f"{cpu:.0f}%", None),
        (bytes_short(meter.rss_bytes if alive else None), None),
        ("-" if procs is None else str(procs), None),
        breaker,
        (str(pid) if pid else "-", None),
    )


def matches(agent: AgentView, text: str) -> bool:
    """Whether the filter ``text`` shows ``agent``: its name or state contains it."""
    wanted = text.strip().casefold()
    if not wanted:
        return True
    name = agent.name.casefold()
    state = agent.state.casefold()
    return wanted in name or wanted in state or wanted in state.replace("_", " ")
