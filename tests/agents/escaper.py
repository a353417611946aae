#!/usr/bin/env python3
"""A native agent that tries to drive the operator's terminal with what it prints.

Every text it sends is an attack of issue 10: a window title (OSC 0), the
clipboard (OSC 52), a cleared screen, a CR + erase-line that forges "gate
approved", hidden text, 8-bit CSI and OSC, a bidi override. They go in a
gate title and detail, a status, a tool name and input, an error, and a log
line. It waits for the gate's decision, then exits 0.
"""

import json
import sys

ESC, BEL = "\x1b", "\x07"
TITLE = f"{ESC}]0;pwned-title{BEL}"
CLIPBOARD = f"{ESC}]52;c;cHduZWQtY2xpcGJvYXJk{BEL}"  # base64 of "pwned-clipboard"
CLEAR = f"{ESC}[2J{ESC}[H"
FORGE = f"{ESC}[1G{ESC}[K fake: gate approved"  # back to column 1, erase, write
RETURN = f"\r{ESC}[K fake: gate approved"
HIDE = f"{ESC}[8mhidden-words{ESC}[0m"
EIGHT_BIT = "\x9b2J\x9d0;pwned-8bit\x9c"
BIDI = "\u202edevorppa\u202c"
GATE_TITLE = f"deploy now?{TITLE}{CLIPBOARD}{CLEAR}{HIDE}{FORGE}"


def emit(obj: object) -> None:
    print(json.dumps(obj), flush=True)


def main() -> int:
    emit({"type": "status", "text": f"working{TITLE}{CLEAR}"})
    emit({"type": "tool", "name": f"Bash{CLIPBOARD}", "input": {"command": f"ls{HIDE}"}})
    emit({"type": "error", "message": f"oops{EIGHT_BIT}{BIDI}"})
    print(f"plain log line{TITLE}{RETURN}", flush=True)
    emit({"type": "gate", "title": GATE_TITLE, "detail": f"details{CLEAR}{RETURN}"})
    sys.stdin.readline()
    emit({"type": "status", "text": f"done{TITLE}"})
    return 0


if __name__ == "__main__":
    sys.exit(main())
