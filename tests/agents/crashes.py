#!/usr/bin/env python3
"""Says something, complains on stderr, and exits with argv[1] (default 3)."""

import json
import sys


def main() -> int:
    code = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    print(json.dumps({"type": "status", "text": "about to crash"}), flush=True)
    print("Traceback (most recent call last): simulated failure", file=sys.stderr, flush=True)
    return code


if __name__ == "__main__":
    sys.exit(main())
