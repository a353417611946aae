#!/usr/bin/env python3
"""Floods stdout with native usage lines until STOP_FILE exists, then says what it wrote.

    flood.py COUNT_FILE STOP_FILE

Whole buffers of 256 pre-built lines, as fast as the pipe takes them (the
pipe's back-pressure is the only throttle). Between buffers it looks for
STOP_FILE; once it is there, it writes to COUNT_FILE, as JSON, what it wrote
in full: ``{"lines": n, "input_tokens": i, "output_tokens": o}`` and exits 0,
so a test can hold the supervisor's log and meters to the agent's own sums.
"""

from __future__ import annotations

import json
import os
import sys

LINES_PER_BUFFER = 256


def main() -> int:
    count_file, stop_file = sys.argv[1], sys.argv[2]
    lines, total_in, total_out = [], 0, 0
    for i in range(LINES_PER_BUFFER):
        n, m = 1000 + i % 97, 100 + i % 13
        total_in += n
        total_out += m
        lines.append(json.dumps({"type": "usage", "input_tokens": n, "output_tokens": m}))
    buffer = ("\n".join(lines) + "\n").encode()
    view = memoryview(buffer)
    buffers = 0
    try:
        while not os.path.exists(stop_file):
            offset = 0
            while offset < len(buffer):  # a pipe may take part of it
                offset += os.write(1, view[offset:])
            buffers += 1
    except BrokenPipeError:
        return 1  # the reader went away: the count would not be the log's
    with open(count_file, "w", encoding="utf-8") as handle:
        json.dump(
            {
                "lines": buffers * LINES_PER_BUFFER,
                "input_tokens": buffers * total_in,
                "output_tokens": buffers * total_out,
            },
            handle,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
