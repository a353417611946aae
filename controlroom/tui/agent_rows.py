"""An agent's row in the agent table, as data: text and colour variable per column.

Pure functions of a snapshot's agent dict (and its burn-rate history), so the
table can compare a row with what it shows and redraw only rows that changed,
and tests can check the words without a screen. Colours are named by the
theme's CSS variables (``status-running``, ``meter-warn``, ``sparkline``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from controlroom.models.attention import Attention
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


def _meter(agent: Mapping[str, Any]) -> Mapping[str, Any]:
    meter = agent.get("meter")
    return meter if isinstance(meter, Mapping) else {}


def agent_attention(agent: Mapping[str, Any]) -> Attention:
    """The attention group of a snapshot's agent (policy.attention decides)."""
    return attention_of(
        str(agent.get("state", "")),
        breaker_open=bool(agent.get("breaker_open")),
        budget_fraction=tightest(_meter(agent))[1],
    )


def _by_attention(agent: Mapping[str, Any]) -> Any:
    return attention_key(
        str(agent["name"]),
        str(agent.get("state", "")),
        breaker_open=bool(agent.get("breaker_open")),
        budget_fraction=tightest(_meter(agent))[1],
    )


SORTS: tuple[tuple[str, Callable[[Mapping[str, Any]], Any]], ...] = (
    ("attention", _by_attention),
    ("name", lambda a: a["name"]),
    ("cost", lambda a: (-float(_meter(a).get("cost_usd") or 0.0), a["name"])),
    ("tokens", lambda a: (-int(_meter(a).get("total_tokens") or 0), a["name"])),
    ("burn", lambda a: (-float(_meter(a).get("tokens_per_minute") or 0.0), a["name"])),
    ("budget", lambda a: (-(tightest(_meter(a))[1] or 0.0), a["name"])),
    ("elapsed", lambda a: (-float(_meter(a).get("elapsed_seconds") or 0.0), a["name"])),
)
"""(column key, sort key) the ``s`` key cycles through: who needs the operator first (the
default), then by name, then big spenders first."""


def files_cell(agent: Mapping[str, Any]) -> Cell:
    """What the agent really changed: ``3 +52-3`` files and lines (``-``: not tracked)."""
    changes = agent.get("changes")
    if not isinstance(changes, Mapping) or not changes.get("tracked"):
        return ("-", None)
    files = int(changes.get("files") or 0)
    cell = changes_cell(files, int(changes.get("added") or 0), int(changes.get("removed") or 0))
    return (cell, None)


def agent_cells(agent: Mapping[str, Any], burn: Iterable[float]) -> tuple[Cell, ...]:
    """Every cell of an agent's row, as data (one entry per ``COLUMNS``)."""
    state = str(agent.get("state", "?"))
    state_var = "status-" + state.replace("_", "-")
    meter = _meter(agent)
    pid = agent.get("pid")
    breaker: Cell = ("OPEN", "status-breaker-open") if agent.get("breaker_open") else ("ok", None)
    if not meter:
        blank: Cell = ("-", None)
        return (
            (str(agent.get("name")), None),
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
    wall = (meter.get("budget") or {}).get("max_wall_seconds")
    elapsed = duration(meter.get("elapsed_seconds"))
    tokens_in = tokens_short(meter.get("input_tokens"))
    alive = pid is not None  # the resource columns show the live process only
    cpu = meter.get("cpu_percent") if alive else None
    procs = meter.get("processes") if alive else None
    return (
        (str(agent.get("name")), None),
        (f"{STATE_GLYPHS.get(state, '?')} {state}", state_var),
        (f"{tokens_in}/{tokens_short(meter.get('output_tokens'))}", None),
        (money(meter.get("cost_usd")), None),
        files_cell(agent),
        budget,
        (
            f"{sparkline(burn, _SPARK_WIDTH)} {tokens_short(meter.get('tokens_per_minute'))}",
            "sparkline",
        ),
        (f"{elapsed}/{duration(wall)}" if wall else elapsed, None),
        ("-" if cpu is None else f"{cpu:.0f}%", None),
        (bytes_short(meter.get("rss_bytes") if alive else None), None),
        ("-" if procs is None else str(procs), None),
        breaker,
        (str(pid) if pid else "-", None),
    )


def matches(agent: Mapping[str, Any], text: str) -> bool:
    """Whether the filter ``text`` shows ``agent``: its name or state contains it."""
    wanted = text.strip().casefold()
    if not wanted:
        return True
    name = str(agent.get("name", "")).casefold()
    state = str(agent.get("state", "")).casefold()
    return wanted in name or wanted in state or wanted in state.replace("_", " ")
