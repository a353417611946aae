#!/usr/bin/env python3
"""Writes one native usage line every INTERVAL ms and records when each was written.

    paced_usage.py OUT_FILE INTERVAL_MS TOKENS_PER_LINE MAX_LINES

Just before writing line k it stamps ``time.monotonic_ns()`` (CLOCK_MONOTONIC,
one clock for every process on Linux). Its SIGTERM handler stamps the
arrival, writes ``{"stamps": [...], "term": ns, "gaps": [[from, to], ...]}``
to OUT_FILE and exits 0. ``gaps`` come from a heartbeat thread that stamps
every ~0.2 ms: a gap over 0.5 ms is a time the process did not run — in
particular the SIGSTOP freeze the supervisor applies before its kill, which
a process cannot observe any other way. After MAX_LINES without a SIGTERM it
writes the same record with ``"term": null`` and exits 0.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
from types import FrameType

GAP_NS = 500_000


def main() -> int:
    out_file = sys.argv[1]
    interval = float(sys.argv[2]) / 1000
    tokens = int(sys.argv[3])
    max_lines = int(sys.argv[4])
    line = (
        json.dumps(
            {
                "type": "usage",
                "input_tokens": tokens - tokens // 10,
                "output_tokens": tokens // 10,
                "model": "claude-sonnet-4-5",
            }
        )
        + "\n"
    ).encode()
    stamps: list[int] = []
    gaps: list[list[int]] = []
    done = threading.Event()

    def heartbeat() -> None:
        # SIGTERM must reach the main thread: delivered here, it would not cut
        # the main thread's sleep short and its handler would run up to a line late.
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
        last = time.monotonic_ns()
        while not done.is_set():
            time.sleep(0.0002)
            now = time.monotonic_ns()
            if now - last > GAP_NS:
                gaps.append([last, now])
            last = now

    def record(term: int | None) -> None:
        done.set()
        with open(out_file, "w", encoding="utf-8") as handle:
            json.dump({"stamps": stamps, "term": term, "gaps": gaps}, handle)

    def on_term(signum: int, frame: FrameType | None) -> None:
        term = time.monotonic_ns()
        record(term)
        os._exit(0)

    signal.signal(signal.SIGTERM, on_term)
    threading.Thread(target=heartbeat, daemon=True).start()
    for _ in range(max_lines):
        stamps.append(time.monotonic_ns())
        os.write(1, line)
        time.sleep(interval)
    record(None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
