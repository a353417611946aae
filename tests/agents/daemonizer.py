#!/usr/bin/env python3
"""Starts daemons the usual way (``nohup … &``, ``daemonize``, dev servers): fork, setsid, fork,
the middle process exits. The daemons are re-parented away from the agent (to init, or to a
subreaper) in sessions and groups of their own: no tree walk from the agent finds them.

argv: [N] [--ignore-term] [--env-clear] [--exit] [--lifetime=S]
  N              how many daemons (default 20)
  --ignore-term  the daemons ignore SIGTERM
  --env-clear    each daemon re-executes itself with an empty environment (``env -i``)
  --exit         the agent exits once its daemons run (they stay behind)
  --lifetime=S   each daemon exits by itself after S seconds (default 120: bounded)

Prints {"type": "status", "text": "daemons", "pids": [...]} once every daemon runs.
"""

import json
import os
import signal
import sys
import time


def daemon(report: int, ignore_term: bool, env_clear: bool, lifetime: float) -> None:
    """In the grandchild: say who we are, then sleep (or become an empty-environment sleeper)."""
    if ignore_term:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    os.write(report, f"{os.getpid()}\n".encode())
    os.close(report)
    if env_clear:
        action = "SIG_IGN" if ignore_term else "SIG_DFL"
        code = (
            "import signal, time\n"
            f"signal.signal(signal.SIGTERM, signal.{action})\n"
            f"time.sleep({lifetime})"
        )
        os.execve(sys.executable, [sys.executable, "-c", code], {})
    time.sleep(lifetime)
    os._exit(0)


def main() -> int:
    args = sys.argv[1:]
    count = int(next((a for a in args if a.isdigit()), "20"))
    lifetime = float(next((a.split("=", 1)[1] for a in args if a.startswith("--lifetime=")), 120))
    ignore_term, env_clear = "--ignore-term" in args, "--env-clear" in args
    sys.stdout.flush()
    read_end, write_end = os.pipe()
    for _ in range(count):
        middle = os.fork()
        if middle == 0:
            os.close(read_end)
            os.setsid()
            if os.fork() == 0:
                daemon(write_end, ignore_term, env_clear, lifetime)
            os._exit(0)  # the middle process exits: the daemon is orphaned
        os.waitpid(middle, 0)
    os.close(write_end)
    with os.fdopen(read_end) as reports:
        pids = [int(reports.readline()) for _ in range(count)]
    print(json.dumps({"type": "status", "text": "daemons", "pids": pids}), flush=True)
    if "--exit" in args:
        return 0
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    sys.exit(main())
