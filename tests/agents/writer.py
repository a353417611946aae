#!/usr/bin/env python3
"""A native agent that changes files in its workspace, step by step, as a script says.

argv[1]: a JSON list of steps, run in order in the current directory:
  {"write": PATH, "text": TEXT}      write (create or replace) a file
  {"append": PATH, "text": TEXT}     append to a file
  {"delete": PATH}                   remove a file
  {"commit": MESSAGE}                git add -A and commit (in the workspace)
  {"sleep": SECONDS}
  {"usage": TURNS}                   TURNS usage lines (one model turn each)
  {"handoff": {"changed": ..., "next_needs": ..., "risks": ...}}
  {"hold": SECONDS}                  sleep (dies on SIGTERM)
After each file step it prints a status line ``did <step> <path>`` so a test
can wait for it. Paths may be absolute (an agent writing outside its workspace).
"""

import json
import os
import subprocess
import sys
import time


def emit(obj: dict[str, object]) -> None:
    print(json.dumps(obj), flush=True)


def run(step: dict[str, object]) -> None:
    if "write" in step or "append" in step:
        path = str(step.get("write") or step.get("append"))
        folder = os.path.dirname(path)
        if folder:
            os.makedirs(folder, exist_ok=True)
        with open(path, "w" if "write" in step else "a", encoding="utf-8") as f:
            f.write(str(step["text"]))
        emit({"type": "status", "text": f"did {'write' if 'write' in step else 'append'} {path}"})
    elif "delete" in step:
        os.remove(str(step["delete"]))
        emit({"type": "status", "text": f"did delete {step['delete']}"})
    elif "commit" in step:
        ident = ["-c", "user.name=Agent", "-c", "user.email=agent@example.com"]
        subprocess.run(["git", "add", "-A"], check=True)
        subprocess.run(["git", *ident, "commit", "-q", "-m", str(step["commit"])], check=True)
        emit({"type": "status", "text": f"did commit {step['commit']}"})
    elif "sleep" in step or "hold" in step:
        time.sleep(float(step.get("sleep") or step.get("hold") or 0))
    elif "usage" in step:
        for _ in range(int(str(step["usage"]))):
            emit({"type": "usage", "input_tokens": 10, "output_tokens": 1})
    elif "handoff" in step:
        emit({"type": "handoff", **dict(step["handoff"])})  # type: ignore[arg-type]


def main() -> int:
    for step in json.loads(sys.argv[1]):
        run(step)
    return 0


if __name__ == "__main__":
    sys.exit(main())
