#!/usr/bin/env python3
"""Escapes its process group: children and grandchildren that each call os.setsid().

argv: [N] [--orphan] [--ignore-term] [--zombie]
  N              how many children (default 2); each forks one grandchild
  --orphan       children exit once their grandchild runs, so the grandchildren
                 re-parent (to init, or to a subreaper)
  --orphan-after=S  the same, S seconds after they start
  --ignore-term  the descendants (not the leader) ignore SIGTERM
  --zombie       also fork one child that exits at once and is never waited for:
                 a zombie for as long as the agent lives

Prints one status line per descendant, then {"type": "status", "text": "forked",
"children": [...], "grandchildren": [...], "pids": [...]}; then sleeps.
"""

import json
import os
import signal
import sys
import time


def sleep_forever() -> None:
    while True:
        signal.pause()


def descendant(report: int, role: str, ignore_term: bool) -> None:
    os.setsid()
    if ignore_term:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    os.write(report, f"{role} {os.getpid()}\n".encode())


def main() -> int:
    args = sys.argv[1:]
    count = int(next((a for a in args if a.isdigit()), "2"))
    after = next((float(a.split("=", 1)[1]) for a in args if a.startswith("--orphan-after=")), None)
    orphan = "--orphan" in args or after is not None
    ignore_term = "--ignore-term" in args
    sys.stdout.flush()
    if "--zombie" in args and os.fork() == 0:
        os._exit(0)
    read_end, write_end = os.pipe()
    for _ in range(count):
        if os.fork() == 0:
            os.close(read_end)
            descendant(write_end, "child", ignore_term)
            if os.fork() == 0:
                descendant(write_end, "grandchild", ignore_term)
                sleep_forever()
            if orphan:
                if after:
                    os.close(write_end)
                    time.sleep(after)
                os._exit(0)
            sleep_forever()
    os.close(write_end)
    found: dict[str, list[int]] = {"child": [], "grandchild": []}
    with os.fdopen(read_end) as reports:
        for _ in range(2 * count):
            role, reported = reports.readline().split()
            found[role].append(int(reported))
    for role, pids in found.items():
        for pid in pids:
            print(json.dumps({"type": "status", "text": f"{role} {pid}", "pid": pid}), flush=True)
    everyone = found["child"] + found["grandchild"]
    summary = {
        "type": "status",
        "text": "forked",
        "pids": everyone,
        "children": found["child"],
        "grandchildren": found["grandchild"],
    }
    print(json.dumps(summary), flush=True)
    if orphan:
        for _ in range(count):
            os.wait()
    sleep_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
