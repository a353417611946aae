"""Reading ``--since``/``--until``: a duration before now, or an ISO date or time.

Kept with the store's queries (they take epoch seconds) rather than in the
CLI, so every reader of the log accepts the same forms.
"""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime

__all__ = ["parse_when"]

_DURATION = re.compile(r"^(\d+(?:\.\d+)?)\s*([smhdw])$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_when(value: str, *, now: float | None = None) -> float:
    """``90m``, ``3w`` (that long before ``now``) or an ISO date/datetime → epoch seconds.

    A date or datetime without a zone is UTC. Raises ``ValueError`` with a
    message that shows the accepted forms.
    """
    text = value.strip()
    match = _DURATION.match(text)
    if match:
        base = time.time() if now is None else now
        return base - float(match[1]) * _UNIT_SECONDS[match[2]]
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(
            f"{value!r} is neither a duration (like 90m or 3w; units s, m, h, d, w) "
            "nor an ISO date or time (like 2026-11-01 or 2026-11-01T12:00Z)"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()
