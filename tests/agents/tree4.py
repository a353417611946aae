#!/usr/bin/env python3
"""A cooperative 4-process tree in one process group: leader, two children, one grandchild.

Every process dies on SIGTERM (the default action). Once all four run, the
leader prints {"type": "status", "text": "ready", "pids": [leader, ...]}.
"""

import json
import os
import signal
import sys


def main() -> int:
    read_end, write_end = os.pipe()
    sys.stdout.flush()
    for depth in (2, 1):  # child with a grandchild, then a plain child
        if os.fork() == 0:
            os.close(read_end)
            if depth == 2 and os.fork() == 0:
                os.write(write_end, f"{os.getpid()}\n".encode())
                while True:
                    signal.pause()
            os.write(write_end, f"{os.getpid()}\n".encode())
            while True:
                signal.pause()
    os.close(write_end)
    with os.fdopen(read_end) as reports:
        pids = [int(reports.readline()) for _ in range(3)]
    print(json.dumps({"type": "status", "text": "ready", "pids": [os.getpid(), *pids]}), flush=True)
    while True:
        signal.pause()


if __name__ == "__main__":
    sys.exit(main())
