#!/usr/bin/env python3
"""Ignores SIGTERM and sleeps forever: only SIGKILL stops it."""

import json
import os
import signal
import sys
import time


def main() -> int:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    print(
        json.dumps({"type": "status", "text": "ignoring SIGTERM", "pid": os.getpid()}), flush=True
    )
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    sys.exit(main())
