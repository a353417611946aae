#!/usr/bin/env python3
"""Uses more than it is given, then waits: memory (MiB) or processes.

argv: memory MIB    allocate MIB mebibytes, one at a time, touching every page
      pids N        fork N children that sleep; a refused fork is reported, not fatal

Prints {"type": "status", "text": "allocated"|"forked", ...} when done (if still alive),
then sleeps (bounded: 60 s).
"""

import json
import os
import sys
import time


def memory(mib: int) -> None:
    held = []
    for _ in range(mib):
        held.append(bytearray(1 << 20))  # zero-filled: every page touched
    print(json.dumps({"type": "status", "text": "allocated", "mib": len(held)}), flush=True)


def pids(count: int) -> None:
    children, refused = [], 0
    for _ in range(count):
        try:
            pid = os.fork()
        except BlockingIOError:
            refused += 1
            continue
        if pid == 0:
            time.sleep(60)
            os._exit(0)
        children.append(pid)
    status = {"type": "status", "text": "forked", "children": children, "refused": refused}
    print(json.dumps(status), flush=True)


def main() -> int:
    what, amount = sys.argv[1], int(sys.argv[2])
    memory(amount) if what == "memory" else pids(amount)
    time.sleep(60)
    return 0


if __name__ == "__main__":
    sys.exit(main())
