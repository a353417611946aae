"""The one way to write each kind of number: tokens, money, durations, bytes, limits.

A screen, a table or a sentence that shows a number of one of these kinds
calls one of these, so the same figure reads the same everywhere.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal, NamedTuple

__all__ = [
    "LIMITS",
    "LimitName",
    "bytes_short",
    "counted",
    "duration",
    "limit_label",
    "limit_value",
    "money",
    "rate_per_hour",
    "tokens",
    "tokens_short",
]


def counted(count: int, noun: str, plural: str = "") -> str:
    """``1 process``, ``3 processes``, ``0 files``: a count and its noun, singular for one only.

    ``plural`` where adding an ``s`` is wrong. The one way to say how many, so no
    sentence reads ``1 agents`` or ``process(es)``.
    """
    return f"{count} {noun if count == 1 else plural or noun + 's'}"


def tokens(value: float | None) -> str:
    """``1,234,567``: a token count, exact."""
    return "-" if value is None else f"{int(value):,}"


def tokens_short(value: float | None) -> str:
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
    """``42s``, ``3m07s``, ``30m``, ``1h02m``, ``2d03h``: the two largest units, whole seconds."""
    if seconds is None:
        return "-"
    total = max(0, int(seconds))
    for big, small, size, small_size in (("d", "h", 86_400, 3600), ("h", "m", 3600, 60)):
        if total >= size:
            whole, rest = divmod(total, size)
            part = rest // small_size
            return f"{whole}{big}{part:02d}{small}" if part else f"{whole}{big}"
    minutes, secs = divmod(total, 60)
    if minutes:
        return f"{minutes}m{secs:02d}s" if secs else f"{minutes}m"
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


class LimitName(NamedTuple):
    label: str  # in a sentence: "tokens 360 / 200,000"
    short: str  # in a narrow column
    unit: Literal["tokens", "usd", "seconds", "count", "bytes", "cpus"]


LIMITS: Mapping[str, LimitName] = {
    "max_tokens": LimitName("tokens", "tok", "tokens"),
    "max_cost_usd": LimitName("cost", "cost", "usd"),
    "max_wall_seconds": LimitName("wall time", "time", "seconds"),
    "max_turns": LimitName("turns", "turns", "count"),
    "swarm_max_cost_usd": LimitName("swarm cost", "swarm", "usd"),
    "memory_max": LimitName("memory", "mem", "bytes"),
    "pids_max": LimitName("processes", "pids", "count"),
    "cpu_max": LimitName("CPU", "cpu", "cpus"),  # "CPU 1.5 cores"
}
"""Every budget and kernel limit by its config key: what to call it, and its unit."""


def limit_label(limit: str, *, short: bool = False) -> str:
    name = LIMITS.get(limit)
    if name is None:
        return limit
    return name.short if short else name.label


def limit_value(limit: str, value: float | None, *, short: bool = False) -> str:
    """``5,000`` (short: ``5.0k``) tokens, ``$0.0123``, ``3m07s``: a value in its limit's unit."""
    if value is None:
        return "-"
    unit = LIMITS[limit].unit if limit in LIMITS else "count"
    if unit == "usd":
        return money(value)
    if unit == "seconds":
        return duration(value)
    if unit == "bytes":
        return bytes_short(value)
    if unit == "cpus":
        return f"{value:g} cores"
    if unit == "tokens" and short:
        return tokens_short(value)
    return tokens(value)
