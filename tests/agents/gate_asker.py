#!/usr/bin/env python3
"""Asks for a gate, reads one decision line on stdin: exit 0 approved, 1 rejected, 2 unreadable.

argv[1]: the gate title (default "deploy to staging?").
"""

import json
import sys


def emit(obj: dict[str, object]) -> None:
    print(json.dumps(obj), flush=True)


def main() -> int:
    title = sys.argv[1] if len(sys.argv) > 1 else "deploy to staging?"
    emit({"type": "gate", "title": title, "detail": "asked by gate_asker"})
    line = sys.stdin.readline()
    try:
        decision = json.loads(line)
        approved = decision["approved"]
    except (ValueError, KeyError, TypeError):
        emit({"type": "error", "message": f"unreadable gate decision: {line.strip()[:200]!r}"})
        return 2
    if approved is True:
        emit({"type": "status", "text": f"approved: {decision.get('reason', '')}"})
        return 0
    emit({"type": "status", "text": f"rejected: {decision.get('reason', '')}"})
    return 1


if __name__ == "__main__":
    sys.exit(main())
