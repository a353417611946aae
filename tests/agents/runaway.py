#!/usr/bin/env python3
"""Spends tokens forever: a usage line of 1,000 tokens (900 in, 100 out), again and again.

argv[1]: lines per second (default 0 = as fast as the pipe takes them).
"""

import json
import sys
import time


def main() -> int:
    rate = float(sys.argv[1]) if len(sys.argv) > 1 else 0.0
    line = json.dumps(
        {"type": "usage", "input_tokens": 900, "output_tokens": 100, "model": "claude-sonnet-4-5"}
    )
    interval = 1.0 / rate if rate > 0 else 0.0
    try:
        while True:
            print(line, flush=True)
            if interval:
                time.sleep(interval)
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
