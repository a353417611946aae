#!/usr/bin/env python3
"""A bounded fork storm: double-forks and setsid's sleepers as fast as it can, then keeps forking.

argv: TOKEN [N] [--ignore-term]
  TOKEN          an argument every process of the storm carries (tests find them by it)
  N              sleepers in the first burst (default 300)
  --ignore-term  every process ignores SIGTERM

Each sleeper: fork, setsid, fork, the middle exits (the sleeper is orphaned in
a session of its own). Once the first N run the leader prints
{"type": "status", "text": "stormed", "pids": [...]} and then never stops
forking: a short-lived child every millisecond or so, and a new sleeper each
tenth time, up to 2 N sleepers in all. Bounded: sleepers exit by themselves
after 120 s.
"""

import json
import os
import signal
import sys
import time

LIFETIME = 120.0


def sleeper(report: int | None) -> None:
    os.setsid()
    if os.fork() == 0:
        if report is not None:
            os.write(report, f"{os.getpid()}\n".encode())
            os.close(report)
        time.sleep(LIFETIME)
    os._exit(0)


def main() -> int:
    args = sys.argv[2:]
    count = int(next((a for a in args if a.isdigit()), "300"))
    if "--ignore-term" in args:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # the kernel reaps our direct children
    sys.stdout.flush()
    read_end, write_end = os.pipe()
    for _ in range(count):
        if os.fork() == 0:
            os.close(read_end)
            sleeper(write_end)
    os.close(write_end)
    with os.fdopen(read_end) as reports:
        pids = [int(reports.readline()) for _ in range(count)]
    print(json.dumps({"type": "status", "text": "stormed", "pids": pids}), flush=True)
    more, n = count, 0
    while True:  # keep forking
        n += 1
        if os.fork() == 0:
            if n % 10 == 0 and more > 0:
                sleeper(None)
            os._exit(0)
        if n % 10 == 0:
            more -= 1
        time.sleep(0.001)


if __name__ == "__main__":
    sys.exit(main())
