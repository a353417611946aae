#!/usr/bin/env python3
"""Everything a reader must survive, then good lines: exits 0.

Binary noise (every byte but newline, NUL included), one 5 MiB line, invalid UTF-8, broken JSON,
a known type with wrong field types, then argv[1] (default 3) good usage lines.
"""

import json
import sys


def main() -> int:
    good = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    out = sys.stdout.buffer
    out.write(bytes(b for b in range(256) if b != 0x0A) + b"\n")
    out.write(b"x" * (5 * 1024 * 1024) + b"\n")
    out.write(b"\xff\xfe invalid \xc3\x28 utf-8\n")
    out.write(b'{"type": "usage", "input_tokens": \n')
    out.write(b'{"type": "usage", "input_tokens": "many"}\n')
    for _ in range(good):
        line = {"type": "usage", "input_tokens": 10, "output_tokens": 5}
        out.write(json.dumps(line).encode() + b"\n")
    out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
