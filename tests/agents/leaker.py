#!/usr/bin/env python3
"""A native agent that prints its secret through every door it has.

argv[1]: the name of the env var holding the secret (one of its secret_env).
First it asks for a gate whose title and detail carry the secret, and waits
for the decision on stdin; then it puts the secret in a status, a tool call,
an error, a plain log line, stderr, an escaped JSON string, and next to an
Anthropic-style key, and exits 0.
"""

import json
import os
import sys


def emit(obj: object) -> None:
    print(json.dumps(obj), flush=True)


def main() -> int:
    secret = os.environ[sys.argv[1]]
    emit({"type": "gate", "title": f"deploy with {secret}?", "detail": f"token={secret}"})
    sys.stdin.readline()  # the decision
    emit({"type": "status", "text": f"my token is {secret}"})
    emit({"type": "tool", "name": "Bash", "input": {"command": f"curl -H 'auth: {secret}'"}})
    emit({"type": "error", "message": f"auth failed for {secret}"})
    print(f"log line with {secret}", flush=True)
    print(f"stderr line with {secret}", file=sys.stderr, flush=True)
    # the secret's first character escaped: the JSON text never holds it whole
    escaped = f"\\u{ord(secret[0]):04x}" + secret[1:]
    print('{"type": "status", "text": "escaped ' + escaped + '"}', flush=True)
    emit({"type": "status", "text": "key sk-ant-api03-abcDEF123_-xyz in the open"})
    return 0


if __name__ == "__main__":
    sys.exit(main())
