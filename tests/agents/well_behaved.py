#!/usr/bin/env python3
"""A cooperative native agent: status, usage and tool lines, one handoff, exit 0.

argv[1]: the task text (default: $CONTROLROOM_AGENT's name); argv[2]: pause
between lines in seconds (default 0.01).
"""

import json
import os
import sys
import time


def emit(obj: dict[str, object]) -> None:
    print(json.dumps(obj), flush=True)


def main() -> int:
    task = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("CONTROLROOM_AGENT", "agent")
    pause = float(sys.argv[2]) if len(sys.argv) > 2 else 0.01
    emit({"type": "status", "text": f"starting: {task}"})
    print("plain log output, not protocol", flush=True)
    for step in range(3):
        time.sleep(pause)
        emit(
            {
                "type": "usage",
                "input_tokens": 100,
                "output_tokens": 20,
                "model": "claude-sonnet-4-5",
            }
        )
        emit({"type": "tool", "name": "Read", "input": {"path": f"file{step}.py"}})
    emit({"type": "status", "text": "done"})
    emit(
        {
            "type": "handoff",
            "changed": f"did: {task}",
            "next_needs": "run the tests",
            "risks": "none known",
        }
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
