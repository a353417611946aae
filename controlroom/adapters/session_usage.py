"""Claude Code's token counts: read from its stream, summed per session, reconciled to its result.

The rule that keeps its meters honest lives here, apart from reading the
stream: each session's ``Usage`` events are summed per model, and the
result's totals (``modelUsage``, else ``usage``) only ever add to them. A
total lower than what was already counted is kept as
``extra["discrepancy"]`` and counts as nothing.
"""

from __future__ import annotations

import math
from typing import Any, Literal, TypeGuard

from controlroom.adapters.base import FieldProblem, json_type, token_count
from controlroom.models import Usage

__all__ = [
    "Counts",
    "SessionUsage",
    "Unreconciled",
    "base_model",
    "is_int",
    "is_number",
    "is_price",
    "read_counts",
    "zero",
]

_COUNTS: tuple[str, ...] = (
    "input_tokens",
    "output_tokens",
    "cache_read_input_tokens",
    "cache_creation_input_tokens",
)
_MODEL_USAGE_COUNTS: dict[str, str] = {  # modelUsage spells them in camelCase
    "inputTokens": "input_tokens",
    "outputTokens": "output_tokens",
    "cacheReadInputTokens": "cache_read_input_tokens",
    "cacheCreationInputTokens": "cache_creation_input_tokens",
}

Counts = dict[str, int]


def zero() -> Counts:
    return dict.fromkeys(_COUNTS, 0)


def read_counts(data: object, where: str) -> Counts:
    """Token counts from an API-style ``usage`` object; absent or null is 0."""
    if not isinstance(data, dict):
        raise FieldProblem(where.rstrip("."), f"must be an object, got {json_type(data)}")
    return {key: token_count(data, key, where) or 0 for key in _COUNTS}


def read_model_usage(data: object) -> dict[str, Counts] | None:
    """Per-model totals from ``result.modelUsage``; None if absent or empty."""
    if data is None:
        return None
    if not isinstance(data, dict):
        raise FieldProblem("modelUsage", f"must be an object, got {json_type(data)}")
    totals: dict[str, Counts] = {}
    for model, entry in data.items():
        where = f"modelUsage.{model}."
        if not isinstance(entry, dict):
            raise FieldProblem(where.rstrip("."), f"must be an object, got {json_type(entry)}")
        total = totals.setdefault(base_model(str(model)), zero())
        for theirs, ours in _MODEL_USAGE_COUNTS.items():
            total[ours] += token_count(entry, theirs, where) or 0
    return totals or None


def base_model(name: str) -> str:
    """``claude-opus-4-8[1m]`` → ``claude-opus-4-8``: ``modelUsage`` names a variant (the
    1M-token context window) that the stream's messages, and the API, name without it."""
    return name[: name.index("[")] if name.endswith("]") and "[" in name else name


class Unreconciled(ValueError):
    """A result whose totals cannot be read: its tokens are not reconciled (and it says why)."""


class SessionUsage:
    """What one agent's current Claude Code session has been counted, per model and in turns."""

    def __init__(self, agent: str) -> None:
        self.agent = agent
        self.emitted: dict[str | None, Counts] = {}
        self.turns = 0

    def reset(self) -> None:
        """A new session: its result covers only itself."""
        self.emitted, self.turns = {}, 0

    def count(
        self,
        counts: Counts,
        model: str | None,
        *,
        turns: int,
        source: Literal["agent", "reconcile"],
    ) -> Usage:
        """Build a Usage event and add it to what has been emitted so far."""
        total = self.emitted.setdefault(model, zero())
        for key in _COUNTS:
            total[key] += counts[key]
        self.turns += turns
        return Usage(
            agent=self.agent,
            model=model,
            turns=turns,
            source=source,
            input_tokens=counts["input_tokens"],
            output_tokens=counts["output_tokens"],
            cache_read_input_tokens=counts["cache_read_input_tokens"],
            cache_creation_input_tokens=counts["cache_creation_input_tokens"],
        )

    def reconcile(self, data: dict[str, Any], model: str | None) -> list[Usage]:
        """Usage deltas that bring this session's sums up to the result's totals.

        ``model`` is the session's (from its init); ``Unreconciled`` when the
        result's totals cannot be read.
        """
        problems: list[str] = []
        try:
            totals = read_model_usage(data.get("modelUsage"))
        except FieldProblem as exc:
            problems.append(f"{exc.field} {exc.message}")
            totals = None
        if totals is not None:
            emitted = self._emitted_under(totals, model)
        else:
            try:
                if data.get("usage") is None:
                    raise FieldProblem("usage", "missing")
                counts = read_counts(data["usage"], "usage.")
            except FieldProblem as exc:
                problems.append(f"{exc.field} {exc.message}")
                reason = "; ".join(problems)
                raise Unreconciled(f"claude-code result: {reason}; tokens not reconciled") from None
            # One total for everything, attributed to the session's model.
            main = model or next((m for m in self.emitted if m), None) or ""
            totals = {main: counts}
            emitted = {main: self._summed()}
        events: list[Usage] = []
        for name in list(totals) + [m for m in emitted if m not in totals]:
            true = totals.get(name, zero())
            seen = emitted.get(name, zero())
            delta = {key: true[key] - seen[key] for key in _COUNTS}
            if any(delta.values()):
                events.append(self._delta(delta, name, totals, data))
        if not events:  # already exact: still mark that the totals were checked
            events.append(self._delta(zero(), next(iter(totals), ""), totals, data))
        num_turns = data.get("num_turns")
        if is_int(num_turns) and num_turns > self.turns:
            events[0].turns = num_turns - self.turns
            self.turns = num_turns
        elif is_int(num_turns) and num_turns < self.turns:
            events[0].extra.setdefault("discrepancy", {})["turns"] = num_turns - self.turns
        return events

    def _emitted_under(self, totals: dict[str, Counts], model: str | None) -> dict[str, Counts]:
        """Our running sums keyed like ``totals``; unattributed counts go to the main model."""
        emitted = {name or "": dict(counts) for name, counts in self.emitted.items()}
        if "" in emitted and "" not in totals:
            main = model if model in totals else next(iter(totals))
            unattributed = emitted.pop("")
            target = emitted.setdefault(main, zero())
            for key in _COUNTS:
                target[key] += unattributed[key]
        return emitted

    def _delta(
        self, delta: Counts, model: str, totals: dict[str, Counts], data: dict[str, Any]
    ) -> Usage:
        """The reconcile event for one model: what the result adds, and what it claims less."""
        added = {key: max(0, n) for key, n in delta.items()}
        event = self.count(added, model or None, turns=0, source="reconcile")
        event.extra = {"reconciled_to": totals.get(model, zero())}
        lower = {key: n for key, n in delta.items() if n < 0}
        if lower:
            event.extra["discrepancy"] = lower
        model_usage = data.get("modelUsage")
        entries = [
            entry
            for name, entry in (model_usage.items() if isinstance(model_usage, dict) else ())
            if base_model(str(name)) == model and isinstance(entry, dict)
        ]
        costs = [e["costUSD"] for e in entries if is_number(e.get("costUSD"))]
        if costs:
            event.extra["reported_cost_usd"] = sum(costs)
        return event

    def _summed(self) -> Counts:
        total = zero()
        for counts in self.emitted.values():
            for key in _COUNTS:
                total[key] += counts[key]
        return total


def is_int(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value: object) -> TypeGuard[int | float]:
    return isinstance(value, int | float) and not isinstance(value, bool)


def is_price(value: object) -> TypeGuard[int | float]:
    """A price the meter may keep: a finite number, not below zero (JSON allows NaN)."""
    return is_number(value) and 0 <= value < math.inf
