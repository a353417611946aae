"""The dashboard's numbers as short text: tokens, money, durations, bars, sparklines.

Plain functions over plain values, so every widget (and the tests) says
"12.3k" and "$0.0123" the same way. Nothing here knows about Textual or
colours: a widget picks the colour, these pick the characters.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

__all__ = [
    "BAR_FULL",
    "SPARK_CHARS",
    "STATE_GLYPHS",
    "bar",
    "bytes_short",
    "count",
    "duration",
    "meter_level",
    "money",
    "rate_per_hour",
    "sparkline",
    "tightest",
]

SPARK_CHARS = "▁▂▃▄▅▆▇█"
BAR_FULL = "█"
_EIGHTHS = " ▏▎▍▌▋▊▉"

STATE_GLYPHS: Mapping[str, str] = {
    "pending": "○",
    "starting": "◔",
    "running": "●",
    "paused": "‖",
    "gated": "◆",
    "stopping": "◌",
    "done": "✓",
    "failed": "✗",
    "killed": "✖",
    "budget_stopped": "$",
    "breaker_open": "⊘",
    "blocked": "⊗",
}
"""One narrow (single-cell) glyph per agent state, so state reads without colour too."""


def count(value: float | None) -> str:
    """``950``, ``12.3k``, ``4.56M``: a token count in at most six characters."""
    if value is None:
        return "-"
    n = float(value)
    if abs(n) < 1000:
        return f"{n:.0f}"
    if abs(n) < 1_000_000:
        return f"{n / 1000:.1f}k"
    if abs(n) < 1_000_000_000:
        return f"{n / 1_000_000:.2f}M"
    return f"{n / 1_000_000_000:.2f}G"


def money(value: float | None) -> str:
    """``$0.0123`` below a dollar (agents spend cents), ``$12.34`` above."""
    if value is None:
        return "-"
    if abs(value) < 1:
        return f"${value:.4f}"
    return f"${value:,.2f}"


def rate_per_hour(value: float | None) -> str:
    """A burn rate in dollars per hour."""
    return "-" if value is None else f"{money(value)}/h"


def duration(seconds: float | None) -> str:
    """``42s``, ``3:07``, ``1:02:03``."""
    if seconds is None:
        return "-"
    total = max(0, int(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}:{minutes:02d}:{secs:02d}"
    if minutes:
        return f"{minutes}:{secs:02d}"
    return f"{secs}s"


def bytes_short(value: float | None) -> str:
    """``512K``, ``45M``, ``1.2G``."""
    if value is None:
        return "-"
    n = float(value)
    for unit, size in (("G", 1 << 30), ("M", 1 << 20), ("K", 1 << 10)):
        if n >= size:
            scaled = n / size
            return f"{scaled:.1f}{unit}" if scaled < 10 else f"{scaled:.0f}{unit}"
    return f"{n:.0f}B"


def bar(fraction: float | None, width: int) -> str:
    """A ``width``-cell bar filled to ``fraction`` (eighth-cell precision, capped at full)."""
    if fraction is None or width <= 0:
        return " " * max(width, 0)
    eighths = round(min(max(fraction, 0.0), 1.0) * width * 8)
    full, part = divmod(eighths, 8)
    text = BAR_FULL * full + (_EIGHTHS[part] if part else "")
    return text.ljust(width)


def meter_level(fraction: float | None) -> str:
    """``ok`` below 80 % of a limit, ``warn`` up to it, ``over`` at or past it."""
    if fraction is None or fraction < 0.8:
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


def tightest(meter: Mapping[str, Any] | None) -> tuple[str | None, float | None]:
    """The limit closest to its cap and how full it is, from a snapshot's ``meter``."""
    if not meter:
        return None, None
    best: tuple[str | None, float | None] = (None, None)
    for limit in meter.get("limits") or ():
        fraction = limit.get("fraction")
        if fraction is not None and (best[1] is None or fraction > best[1]):
            best = (str(limit.get("limit")), float(fraction))
    return best
