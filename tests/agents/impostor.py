#!/usr/bin/env python3
"""A hostile native agent that tries to act as the operator on a control-room socket.

argv[1]: a JSON plan ``{"socket": PATH, "fork": BOOL, "tries": N, "gate": BOOL,
"gate_file": PATH, "ops": [[OP, ARGS], ...]}`` (socket "": its own channel,
``$CONTROLROOM_SOCKET``). With ``gate`` it first asks
for a gate of its own and waits for ``gate_file`` (the test writes the gate
id there; the string ``{gate}`` in ARGS becomes that id). Then each op is
sent ``tries`` times, each over a fresh connection; with ``fork`` that
connection's ``connect()`` is made by a forked child that exits at once and
is reaped before the socket is used, so the peer the server is told of is a
dead process. Every answer is printed as a status line
``{"op", "attempt", "answer"}``; then ``status: done``, then (if it asked
for a gate) the decision line it reads on stdin.
"""

import json
import os
import socket
import sys
import time


def emit(obj: dict[str, object]) -> None:
    print(json.dumps(obj), flush=True)


def connection(path: str, fork: bool) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    if not fork:
        sock.connect(path)
        return sock
    pid = os.fork()
    if pid == 0:  # the child: connect, and vanish at once
        try:
            sock.connect(path)
        finally:
            os._exit(0)
    os.waitpid(pid, 0)  # reaped: its pid names nobody now
    return sock


def ask(path: str, fork: bool, op: str, args: object) -> str:
    sock = connection(path, fork)
    sock.settimeout(20)
    data = b""
    try:
        sock.sendall(json.dumps({"id": 1, "op": op, "args": args}).encode() + b"\n")
    except OSError:
        pass  # refused and closed before we spoke: read why
    try:
        while b"\n" not in data:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    except OSError as exc:
        data += f"<{exc!r}>".encode()
    finally:
        sock.close()
    return data.decode(errors="replace").strip()


def main() -> int:
    plan = json.loads(sys.argv[1])
    path = plan["socket"] or os.environ["CONTROLROOM_SOCKET"]
    gate = ""
    if plan.get("gate"):
        emit({"type": "gate", "title": "deploy to production?", "detail": "trust me"})
        deadline = time.monotonic() + 30
        while not os.path.exists(plan["gate_file"]) and time.monotonic() < deadline:
            time.sleep(0.02)
        with open(plan["gate_file"], encoding="utf-8") as f:
            gate = f.read().strip()
    for op, args in plan["ops"]:
        args = json.loads(json.dumps(args).replace("{gate}", gate))
        for attempt in range(plan.get("tries", 1)):
            answer = ask(path, plan.get("fork", False), op, args)
            text = json.dumps({"op": op, "attempt": attempt, "answer": answer})
            emit({"type": "status", "text": text})
    emit({"type": "status", "text": "done"})
    if plan.get("gate"):
        emit({"type": "status", "text": "decision " + sys.stdin.readline().strip()})
    return 0


if __name__ == "__main__":
    sys.exit(main())
