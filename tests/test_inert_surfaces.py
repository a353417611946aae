"""Agent text is inert on every terminal surface, tried with a hostile agent.

tests/agents/escaper.py puts issue 10's escape sequences (window title,
clipboard, clear screen, a CR + erase-line forging "gate approved", hidden
text, 8-bit CSI/OSC, a bidi override) in a status, a tool call, an error, a
log line, and a gate title and detail. Before the fix the headless log,
``gates``, ``status``, ``audit list``, ``show`` and ``timeline`` wrote them as
they were. Now: the headless log in a real terminal (tmux) keeps its title,
its clipboard and its screen; every CLI output holds no byte a terminal
obeys; and JSON output still decodes to exactly what the agent wrote, which
the audit log keeps as it was.
"""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from clikit import ROOT
from termkit import Terminal, terminal

from controlroom._errors import ControlError
from controlroom.control.client import ControlClient

AGENTS = Path(__file__).parent / "agents"
_spec = importlib.util.spec_from_file_location("escaper", AGENTS / "escaper.py")
assert _spec is not None and _spec.loader is not None
escaper = importlib.util.module_from_spec(_spec)  # the agent's own attack strings
_spec.loader.exec_module(escaper)

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")

# what a terminal obeys: C0 but tab/newline, DEL, C1 (8-bit forms), bidi and zero-width controls
OBEYED = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]"
)
HIDDEN_SGR = re.compile(r"\x1b\[(?:[0-9;]*;)?8(?:;[0-9;]*)?m")


def write_config(folder: Path) -> Path:
    command = json.dumps([sys.executable, str(AGENTS / "escaper.py")])
    cfg = folder / "swarm.toml"
    cfg.write_text(
        '[swarm]\nname = "t"\naudit_db = "audit.db"\nrun_dir = "run"\n\n'
        f'[[agents]]\nname = "escaper"\ncommand = {command}\n',
        encoding="utf-8",
    )
    return cfg


def cli(folder: Path, *args: str) -> str:
    """A verb's whole output as text, after checking its bytes obey nothing."""
    return _checked(folder, ["-m", "controlroom", *args], f"controlroom {' '.join(args)}")


EACH = """
import json, sys
from controlroom.cli import main
for args in json.loads(sys.argv[1]):
    print("== controlroom", *args, flush=True)
    code = main(args)
    sys.stdout.flush()
    if code:
        sys.exit(f"controlroom {' '.join(args)}: exit code {code}")
"""
"""Runs the verbs given in argv (a JSON list of argument lists) one after another in this
interpreter, as ``python -m controlroom`` runs each, a "== controlroom …" line before each:
one start-up (0.4 s of CPU) for all of them, the whole output still checked."""


def cli_each(folder: Path, verbs: list[list[str]]) -> str:
    """Many verbs in one interpreter (``EACH``); their outputs, each after its "==" line."""
    return _checked(folder, ["-c", EACH, json.dumps(verbs)], f"{len(verbs)} verbs")


def _checked(folder: Path, argv: list[str], what: str) -> str:
    """``python ARGV`` with the CLI's environment: its output, which must obey nothing."""
    done = subprocess.run(
        [sys.executable, *argv],
        cwd=folder,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", "TZ": "UTC"},
        capture_output=True,
        timeout=60,
    )
    out = (done.stdout + done.stderr).decode("utf-8")
    assert done.returncode == 0, out
    found = OBEYED.search(out)
    assert found is None, f"{what} wrote {found.group()!r}:\n{out!r}"
    return out


def pending_gate(sock: Path, term: Terminal) -> dict[str, object]:
    deadline = time.monotonic() + 30
    with ControlClient(sock) as client:
        while time.monotonic() < deadline:
            try:
                gates = client.request("gates")
            except ControlError:
                client.close()
                gates = []
            if gates:
                return dict(gates[0])
            time.sleep(0.05)
    raise AssertionError("no gate came; screen:\n" + term.screen())


def test_an_agents_escape_sequences_reach_no_terminal(tmp_path: Path) -> None:
    cfg = write_config(tmp_path)
    sock = tmp_path / "run" / "control.sock"
    log = tmp_path / "headless.log"
    command = [sys.executable, "-m", "controlroom", "run", str(cfg), "--headless"]
    with terminal(tmp_path, ["env", f"PYTHONPATH={ROOT}", *command], tee=log) as term:
        gate = pending_gate(sock, term)

        # the live surfaces, while the gate waits: text for people, JSONL exact
        cli(tmp_path, "gates", "--socket", str(sock))
        cli(tmp_path, "status", "--socket", str(sock))
        (line,) = cli(tmp_path, "gates", "--format", "jsonl", "--socket", str(sock)).splitlines()
        assert json.loads(line)["title"] == escaper.GATE_TITLE == gate["title"]
        cli(tmp_path, "status", "--format", "jsonl", "--socket", str(sock))

        approved = cli(tmp_path, "approve", str(gate["id"]), "--socket", str(sock))
        assert approved.startswith(f"approved {gate['id']} (escaper: deploy now?")
        term.until(lambda screen: "EXIT=" in screen, timeout=30)

        # the headless log, in a real terminal: title, clipboard and screen are its own
        assert "pwned" not in term.title()
        assert term.buffers() == ""
        screen = term.screen()
        assert "run started" in screen  # nothing cleared it
        forged = [row for row in screen.splitlines() if "fake: gate approved" in row]
        assert forged and all("requested" in row for row in forged), screen  # not overwritten
        assert HIDDEN_SGR.search(term.screen(escapes=True)) is None
    assert OBEYED.search(log.read_bytes().decode("utf-8")) is None

    # the audit log keeps the original; every text view of it is inert
    db = str(tmp_path / "audit.db")
    for args in (("list",), ("timeline", "escaper"), ("runs",), ("verify",)):
        cli(tmp_path, "audit", *args, "--db", db)
    lines = cli(tmp_path, "audit", "list", "--format", "jsonl", "--db", db).splitlines()
    events = [json.loads(line) for line in lines]
    status = next(e for e in events if e["kind"] == "status")
    assert status["text"] == f"working{escaper.TITLE}{escaper.CLEAR}"  # exact, from JSON
    tool = next(e for e in events if e["kind"] == "tool_call")
    assert tool["name"] == f"Bash{escaper.CLIPBOARD}"
    error = next(e for e in events if e["kind"] == "error")
    assert error["message"] == f"oops{escaper.EIGHT_BIT}{escaper.BIDI}"
    shown = cli_each(tmp_path, [["audit", "show", str(e["id"]), "--db", db] for e in events])
    heads = [line for line in shown.splitlines() if line.startswith("== controlroom audit show")]
    assert len(heads) == len(events)
    cli(tmp_path, "audit", "timeline", "escaper", "--format", "jsonl", "--db", db)


def test_the_dashboard_draws_an_agents_text_inert(tmp_path: Path) -> None:
    """The same agent under the dashboard, in tmux: the window is still the operator's."""
    from tui_harness import kill_recorded

    cfg = write_config(tmp_path)
    command = [sys.executable, "-m", "controlroom", str(cfg)]
    try:
        with terminal(tmp_path, ["env", f"PYTHONPATH={ROOT}", *command]) as term:
            # the gate is queued and drawn, its title among the rest
            term.until(lambda screen: "deploy now?" in screen, timeout=30)
            time.sleep(1.0)  # a few more refreshes of every pane
            screen = term.screen()
            assert "pwned" not in term.title()
            assert term.buffers() == ""
            rows = [row.strip(" │") for row in screen.splitlines()]
            assert not [row for row in rows if row.startswith("fake: gate approved")], screen
            assert HIDDEN_SGR.search(term.screen(escapes=True)) is None
    finally:
        kill_recorded(tmp_path / "audit.db")
