#!/usr/bin/env python3
"""Stuck in a loop: the same tool call forever, with a usage line between each.

argv[1]: seconds between calls (default 0.01).
"""

import json
import sys
import time


def main() -> int:
    interval = float(sys.argv[1]) if len(sys.argv) > 1 else 0.01
    tool = json.dumps({"type": "tool", "name": "Bash", "input": {"command": "pytest -q"}})
    usage = json.dumps({"type": "usage", "input_tokens": 50, "output_tokens": 10})
    try:
        while True:
            print(tool, flush=True)
            print(usage, flush=True)
            time.sleep(interval)
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
