"""The dashboard's pictures of numbers: bars, sparklines, state glyphs, meter levels.

Plain functions over plain values; the numbers themselves are written by
``controlroom.text`` (tokens, money, durations), as everywhere else. Nothing
here knows about Textual or colours: a widget picks the colour, these pick
the characters.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from controlroom.models import BUDGET_WARNING_PERCENT
from controlroom.models.state import AgentState
from controlroom.models.views import MeterView

__all__ = [
    "BAR_FULL",
    "SPARK_CHARS",
    "STATE_GLYPHS",
    "bar",
    "meter_level",
    "sparkline",
    "tightest",
]

SPARK_CHARS = "▁▂▃▄▅▆▇█"
BAR_FULL = "█"
_EIGHTHS = " ▏▎▍▌▋▊▉"

STATE_GLYPHS: Mapping[str, str] = {
    AgentState.PENDING: "○",
    AgentState.STARTING: "◔",
    AgentState.RUNNING: "●",
    AgentState.PAUSED: "‖",
    AgentState.GATED: "◆",
    AgentState.STOPPING: "◌",
    AgentState.DONE: "✓",
    AgentState.FAILED: "✗",
    AgentState.KILLED: "✖",
    AgentState.BUDGET_STOPPED: "$",
    AgentState.BREAKER_OPEN: "⊘",
    AgentState.BLOCKED: "⊗",
}
"""One narrow (single-cell) glyph per agent state, so state reads without colour too."""


def bar(fraction: float | None, width: int) -> str:
    """A ``width``-cell bar filled to ``fraction`` (eighth-cell precision, capped at full)."""
    if fraction is None or width <= 0:
        return " " * max(width, 0)
    eighths = round(min(max(fraction, 0.0), 1.0) * width * 8)
    full, part = divmod(eighths, 8)
    text = BAR_FULL * full + (_EIGHTHS[part] if part else "")
    return text.ljust(width)


def meter_level(fraction: float | None) -> str:
    """``ok`` below the budget-warning threshold, ``warn`` up to the limit, ``over`` at it."""
    if fraction is None or fraction * 100 < BUDGET_WARNING_PERCENT:
        return "ok"
    return "warn" if fraction < 1.0 else "over"


def sparkline(values: Iterable[float], width: int) -> str:
    """The last ``width`` values as ``▁▂▃▄▅▆▇█``, scaled to their own maximum."""
    tail = list(values)[-width:]
    if not tail:
        return " " * width
    top = max(tail)
    if top <= 0:
        text = SPARK_CHARS[0] * len(tail)
    else:
        last = len(SPARK_CHARS) - 1
        text = "".join(SPARK_CHARS[min(last, round(v / top * last))] for v in tail)
    return text.rjust(width)


def tightest(meter: MeterView | None) -> tuple[str | None, float | None]:
    """The limit closest to its cap and how full it is, from a snapshot's ``meter``."""
    if meter is None:
        return None, None
    best: tuple[str | None, float | None] = (None, None)
    for limit in meter.limits:
        if best[1] is None or limit.fraction > best[1]:
            best = (limit.limit, limit.fraction)
    return best
