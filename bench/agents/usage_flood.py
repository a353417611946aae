#!/usr/bin/env python3
"""Writes native usage lines as fast as its stdout pipe takes them, for a fixed time.

    usage_flood.py SECONDS COUNT_FILE

The lines are built once and written in big buffers (the pipe's back-pressure
is the only throttle), so the agent costs little CPU next to the supervisor
reading it. At exit it writes what it fully wrote to COUNT_FILE as JSON:
``{"lines": n, "input_tokens": i, "output_tokens": o}``; the benchmark checks
those figures against the audit log and the supervisor's meters.
"""

from __future__ import annotations

import json
import os
import sys
import time

LINES_PER_BUFFER = 512  # about 48 KiB, under the 64 KiB pipe buffer


def build_buffer() -> tuple[bytes, int, int]:
    lines = []
    total_in = total_out = 0
    for i in range(LINES_PER_BUFFER):
        n, m = 1000 + i % 97, 100 + i % 13
        total_in += n
        total_out += m
        lines.append(
            json.dumps(
                {
                    "type": "usage",
                    "input_tokens": n,
                    "output_tokens": m,
                    "model": "claude-sonnet-4-5",
                }
            )
        )
    return ("\n".join(lines) + "\n").encode(), total_in, total_out


def main() -> int:
    seconds = float(sys.argv[1])
    count_file = sys.argv[2]
    buffer, buf_in, buf_out = build_buffer()
    view = memoryview(buffer)
    buffers = 0
    deadline = time.monotonic() + seconds
    try:
        while time.monotonic() < deadline:
            offset = 0
            while offset < len(buffer):  # a blocking pipe may still take part of it
                offset += os.write(1, view[offset:])
            buffers += 1
    except BrokenPipeError:
        pass  # counted only whole buffers: a torn one is not claimed as written
    result = {
        "lines": buffers * LINES_PER_BUFFER,
        "input_tokens": buffers * buf_in,
        "output_tokens": buffers * buf_out,
    }
    with open(count_file, "w", encoding="utf-8") as handle:
        json.dump(result, handle)
    return 0


if __name__ == "__main__":
    sys.exit(main())
