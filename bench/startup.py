#!/usr/bin/env python3
"""Start-up: the dashboard's first frame in a real terminal, and the CLI verbs' cost.

    .venv/bin/python bench/startup.py [--runs 5]

Measures, in one run on this machine:
  * ``controlroom tui CONFIG`` (the installed console script, a real process)
    in a 160×48 tmux pane: the time from asking tmux to start it until
    ``capture-pane`` first shows the dashboard (its header and footer: the
    first frame) and until the header names the swarm with every agent's row
    (the first frame with data), median of ``--runs``; against a baseline in
    the same harness: ``python -c`` printing one line;
  * ``controlroom audit verify`` on an empty audit database, median of
    ``--runs`` × 2, against a bare ``python -c pass`` in the same run;
  * that ``check``, ``audit``, ``status``, ``approve`` and ``hook`` never
    import Textual (``python -X importtime``; status, approve and hook talk
    to a real headless swarm) — asserted: the bench fails if one does.
Targets: first frame < 1 s; audit verify < 150 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

from tui_harness import kill_recorded, write_config  # noqa: E402

PYTHON = sys.executable
SCRIPT = Path(PYTHON).with_name("controlroom")
CONTROLROOM = [str(SCRIPT)] if SCRIPT.exists() else [PYTHON, "-m", "controlroom"]
HOOK_INPUT = REPO / "tests" / "fixtures" / "claude-code" / "pretooluse-hook-input.json"

CONFIG = """
[swarm]
name = "startup"
audit_db = "audit.db"
run_dir = "r"

[[agents]]
name = "alpha"
command = ["{python}", "{agents}/well_behaved.py", "alpha", "30"]

[[agents]]
name = "beta"
command = ["{python}", "{agents}/well_behaved.py", "beta", "30"]

[[agents]]
name = "gamma"
command = ["{python}", "{agents}/well_behaved.py", "gamma", "30"]
"""


# --------------------------------------------------------------------------- tmux


class Tmux:
    """A private tmux server (its own socket name) holding one idle session."""

    def __init__(self) -> None:
        self.server = f"cr-bench-{os.getpid()}-{uuid.uuid4().hex[:6]}"

    def run(self, *args: str) -> str:
        done = subprocess.run(
            ["tmux", "-L", self.server, *args], capture_output=True, text=True, timeout=10
        )
        if done.returncode != 0:
            raise RuntimeError(f"tmux {' '.join(args)}: {done.stderr.strip()}")
        return done.stdout

    def start_window(self, name: str, folder: Path, command: list[str]) -> None:
        env = {"XDG_CONFIG_HOME": str(folder / "xdg"), "TERM": "xterm-256color"}
        line = " ".join(
            ["exec env", *(f"{k}={shlex.quote(v)}" for k, v in env.items())]
            + [shlex.quote(c) for c in command]
        )
        self.run("new-window", "-d", "-t", "idle", "-n", name, "-c", str(folder), line)

    def screen(self, name: str) -> str:
        return self.run("capture-pane", "-p", "-t", f"idle:{name}")

    def pane_pid(self, name: str) -> int:
        return int(self.run("display-message", "-p", "-t", f"idle:{name}", "#{pane_pid}"))


@contextmanager
def tmux_server() -> Iterator[Tmux]:
    tmux = Tmux()
    tmux.run("new-session", "-d", "-s", "idle", "-x", "160", "-y", "48", "sleep 600")
    tmux.run("set-option", "-g", "default-size", "160x48")
    try:
        yield tmux
    finally:
        subprocess.run(["tmux", "-L", tmux.server, "kill-server"], capture_output=True, timeout=10)


def poll(check: Callable[[], bool], timeout: float) -> float:
    """Seconds until ``check()`` holds (polled as fast as tmux answers)."""
    started = time.perf_counter()
    while not check():
        if time.perf_counter() - started > timeout:
            raise SystemExit(f"timed out after {timeout} s")
        time.sleep(0.002)
    return time.perf_counter() - started


def first_frame(tmux: Tmux, index: int) -> tuple[float, float]:
    """(seconds to the first frame, seconds to the first frame with data) of one start."""
    with tempfile.TemporaryDirectory(prefix="cr-start-") as tmp:
        folder = Path(tmp)
        cfg = write_config(folder / "config.toml", CONFIG)
        name = f"run{index}"

        def shows(*words: str) -> bool:
            screen = tmux.screen(name)
            return all(word in screen for word in words)

        started = time.perf_counter()
        tmux.start_window(name, folder, [*CONTROLROOM, "tui", str(cfg)])
        poll(lambda: shows("Agent", "Quit"), 10)  # the table header and the footer
        frame = time.perf_counter() - started
        poll(lambda: shows("◉ startup", "alpha", "beta", "gamma", "● running"), 10)
        data = time.perf_counter() - started
        pid = tmux.pane_pid(name)
        os.kill(pid, signal.SIGTERM)  # the dashboard stops every agent and exits
        poll(lambda: ended(pid), 15)
        kill_recorded(folder / "audit.db")
        return frame, data


def ended(pid: int) -> bool:
    """Exited (a zombie its parent, the tmux server, has not reaped yet counts)."""
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def baseline_frame(tmux: Tmux, index: int) -> float:
    """Seconds until a bare ``python -c`` line shows in a pane started the same way."""
    with tempfile.TemporaryDirectory(prefix="cr-start-") as tmp:
        name = f"base{index}"
        code = "import time; print('ready', flush=True); time.sleep(5)"
        started = time.perf_counter()
        tmux.start_window(name, Path(tmp), [PYTHON, "-c", code])
        poll(lambda: "ready" in tmux.screen(name), 10)
        seconds = time.perf_counter() - started
        tmux.run("kill-window", "-t", f"idle:{name}")
        return seconds


# --------------------------------------------------------------------------- CLI verbs


def timed(
    command: list[str],
    *,
    env: dict[str, str] | None = None,
    stdin: str | None = None,
    cwd: Path | None = None,
) -> tuple[float, subprocess.CompletedProcess[str]]:
    """(wall seconds, the finished process) of one run of ``command``."""
    started = time.perf_counter()
    done = subprocess.run(
        command, capture_output=True, text=True, timeout=30, env=env, input=stdin, cwd=cwd
    )
    return time.perf_counter() - started, done


def empty_database(folder: Path) -> Path:
    from controlroom.store.writer import AuditStore

    db = folder / "empty.db"

    async def create() -> None:
        store = await AuditStore.open(db, "bench-empty")
        await store.close()

    asyncio.run(create())
    return db


def textual_imports(stderr: str) -> list[str]:
    """Modules of the textual package in a ``-X importtime`` report."""
    found = []
    for line in stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            module = line.rsplit("|", 1)[1].strip()
            if module == "textual" or module.startswith("textual."):
                found.append(module)
    return found


@contextmanager
def headless_swarm(folder: Path) -> Iterator[Path]:
    """A ``controlroom run --headless`` of CONFIG in ``folder``; its socket. Stopped after."""
    cfg = write_config(folder / "config.toml", CONFIG)
    proc = subprocess.Popen(
        [*CONTROLROOM, "run", str(cfg), "--headless"],
        cwd=folder,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stderr is not None
        line = proc.stderr.readline()
        if "control socket" not in line:
            raise SystemExit(f"headless swarm did not start: {line}")
        yield folder / "r" / "control.sock"
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        kill_recorded(folder / "audit.db")


def check_verbs(folder: Path, db: Path) -> list[tuple[str, float, int, list[str]]]:
    """(verb, seconds, exit code, textual modules imported) for each headless verb."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONTROLROOM_")}
    results = []
    with headless_swarm(folder) as sock:
        cfg = str(folder / "config.toml")
        hook_env = {**env, "CONTROLROOM_SOCKET": str(sock), "CONTROLROOM_AGENT": "alpha"}
        runs: list[tuple[str, list[str], dict[str, str], str | None, set[int]]] = [
            ("check", ["check", cfg], env, None, {0}),
            ("audit verify", ["audit", "verify", "--db", str(db)], env, None, {0}),
            ("status", ["status", "--socket", str(sock)], env, None, {0}),
            ("approve", ["approve", "g-00000000", "--socket", str(sock)], env, None, {1}),
            ("hook", ["hook", "pretooluse"], hook_env, HOOK_INPUT.read_text(), {0}),
        ]
        for verb, args, environ, stdin, codes in runs:
            command = [PYTHON, "-X", "importtime", "-m", "controlroom", *args]
            seconds, done = timed(command, env=environ, stdin=stdin, cwd=folder)
            if done.returncode not in codes:
                raise SystemExit(f"{verb}: exit {done.returncode}: {done.stderr[-500:]}")
            results.append((verb, seconds, done.returncode, textual_imports(done.stderr)))
    return results


# --------------------------------------------------------------------------- main


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    print(f"startup: {' '.join(CONTROLROOM)} (python {sys.version.split()[0]})")
    failures = []

    if shutil.which("tmux") is None:
        print("first frame: skipped (tmux is not installed)")
    else:
        with tmux_server() as tmux:
            base = [baseline_frame(tmux, i) for i in range(args.runs)]
            frames = [first_frame(tmux, i) for i in range(args.runs)]
        first = [f for f, _ in frames]
        data = [d for _, d in frames]
        print(f"baseline: python -c print → visible in tmux, median {ms(statistics.median(base))}")
        print(
            f"first frame: controlroom tui → header+footer on screen, median "
            f"{ms(statistics.median(first))} (runs: {', '.join(ms(s) for s in first)})"
        )
        print(
            f"first frame with data: swarm name + every agent running, median "
            f"{ms(statistics.median(data))} (runs: {', '.join(ms(s) for s in data)})"
        )
        if statistics.median(first) >= 1.0:
            failures.append("first frame < 1 s")

    with tempfile.TemporaryDirectory(prefix="cr-start-") as tmp:
        folder = Path(tmp)
        db = empty_database(folder)
        verify_command = [*CONTROLROOM, "audit", "verify", "--db", str(db)]
        verify = [timed(verify_command)[0] for _ in range(args.runs * 2)]
        bare = [timed([PYTHON, "-c", "pass"])[0] for _ in range(args.runs * 2)]
        print(f"baseline: python -c pass, median {ms(statistics.median(bare))}")
        print(f"audit verify on an empty database, median {ms(statistics.median(verify))}")
        if statistics.median(verify) >= 0.150:
            failures.append("audit verify < 150 ms")

        for verb, seconds, code, textual in check_verbs(folder, db):
            state = "imports textual: " + ", ".join(textual[:3]) if textual else "no textual"
            print(f"import check: {verb:<12} exit {code}, {ms(seconds)} (-X importtime), {state}")
            assert not textual, f"{verb} imports textual: {textual}"

    for what in ("first frame < 1 s", "audit verify < 150 ms"):
        print(f"target: {what}: {'NOT met' if what in failures else 'met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
