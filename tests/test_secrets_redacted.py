"""Secrets are redacted at the source: no surface shows an agent's secret_env value.

Written as issue 10's leaking agent (finding 6): it prints its secret in a
gate title, a status, a tool call, an error, a log line, stderr and an
escaped JSON string. Before the fix the database copy was redacted and
nothing else: the headless log printed it, and anyone on the control socket
(another agent too) read it from ``subscribe``, ``gates`` and ``snapshot``.
Now it appears nowhere: not in the headless log, not on the socket, not in
the database file's bytes, not in ``audit`` output.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from clikit import ROOT, controlroom

from controlroom._errors import ControlError
from controlroom.control.client import ControlClient

AGENTS = Path(__file__).parent / "agents"
SECRET = "tok-3f9a1c77e2b04d5f"
KEY = "sk-ant-api03-abcDEF123_-xyz"


def start(tmp_path: Path) -> tuple[subprocess.Popen[str], Path]:
    command = json.dumps([sys.executable, str(AGENTS / "leaker.py"), "LEAK_TOKEN"])
    cfg = tmp_path / "swarm.toml"
    cfg.write_text(
        '[swarm]\nname = "t"\naudit_db = "audit.db"\nrun_dir = "run"\n\n'
        f'[[agents]]\nname = "leaker"\ncommand = {command}\nsecret_env = ["LEAK_TOKEN"]\n'
        '\n[[agents]]\nname = "bystander"\n'
        f"command = {json.dumps([sys.executable, '-c', 'import time; time.sleep(60)'])}\n",
        encoding="utf-8",
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT), "LEAK_TOKEN": SECRET}
    proc = subprocess.Popen(
        [sys.executable, "-m", "controlroom", "run", str(cfg), "--headless"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    return proc, tmp_path / "run" / "control.sock"


def wait_for_gate(client: ControlClient, proc: subprocess.Popen[str]) -> list[dict[str, Any]]:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert proc.poll() is None, "the control room ended early"
        try:
            gates = client.request("gates")
        except ControlError:  # not listening yet
            client.close()
            time.sleep(0.05)
            continue
        if gates:
            return list(gates)
        time.sleep(0.05)
    raise AssertionError("the leaker's gate never came")


def test_a_secret_printed_by_an_agent_appears_nowhere(tmp_path: Path) -> None:
    proc, sock = start(tmp_path)
    seen: dict[str, str] = {}
    try:
        client = ControlClient(sock)
        gates = wait_for_gate(client, proc)
        seen["gates"] = json.dumps(gates)
        seen["snapshot"] = json.dumps(client.request("snapshot"))
        seen["handoffs"] = json.dumps(client.request("handoffs"))
        seen["cli gates"] = controlroom("gates", "--socket", str(sock), cwd=tmp_path).stdout
        status = controlroom("status", "--format", "jsonl", "--socket", str(sock), cwd=tmp_path)
        seen["cli status"] = status.stdout
        assert "[redacted]" in seen["gates"]  # the gate is there, its secret is not

        streamed: list[dict[str, Any]] = []
        stream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        stream.settimeout(30)
        stream.connect(str(sock))
        stream.sendall(b'{"id": 1, "op": "subscribe"}\n')
        reader = stream.makefile("rb")
        assert json.loads(reader.readline())["ok"] is True  # subscribed from here on

        def listen() -> None:
            for line in reader:
                event = json.loads(line).get("event", {})
                streamed.append(event)
                if event.get("kind") == "agent_exited" and event.get("agent") == "leaker":
                    return

        listener = threading.Thread(target=listen, daemon=True)
        listener.start()
        client.request("approve", {"gate": gates[0]["id"], "reason": "go"})
        listener.join(30)
        stream.close()
        seen["subscribe"] = json.dumps(streamed)
        assert any(e.get("kind") == "agent_exited" for e in streamed), "stream ended early"
        client.request("stop_all", {"grace": 0.5})
        client.close()
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=10)
    seen["headless stdout"], seen["headless stderr"] = out, err
    assert "deploy with [redacted]?" in out  # the gate line is printed, without its secret

    db = tmp_path / "audit.db"
    for path in db.parent.glob("audit.db*"):
        seen[f"file {path.name}"] = path.read_bytes().decode("utf-8", "replace")
    for args in (
        ("list",),
        ("list", "--format", "jsonl"),
        ("timeline", "leaker"),
        ("timeline", "leaker", "--format", "jsonl"),
        ("export", "-", "--format", "csv"),
    ):
        result = controlroom("audit", *args, "--db", str(db), cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        seen["audit " + " ".join(args)] = result.stdout + result.stderr

    for surface, text in seen.items():
        assert SECRET not in text, f"the secret leaked through {surface}"
        assert KEY not in text, f"the API key leaked through {surface}"
    assert "escaped [redacted]" in seen["subscribe"]


def test_the_bus_redacts_every_field_that_holds_text_in_place() -> None:
    """Nested models, dict keys and values, lists and extras: nothing slips through."""
    from controlroom.models import GateRequested, Handoff, ToolCall, Usage
    from controlroom.store.redact import Redactor

    redactor = Redactor([SECRET])
    gate = GateRequested(
        agent="a",
        gate_id="g-1",
        gate_kind="tool",
        title=f"run {SECRET}?",
        handoff=Handoff(changed=f"c {SECRET}", next_needs="n", risks=KEY),
        tool={"input": {SECRET: [1, f"x{SECRET}y", {"k": KEY}]}},
        extra={"note": SECRET},
    )
    assert redactor.redact_model(gate) is True
    text = gate.model_dump_json()
    assert SECRET not in text and KEY not in text and text.count("[redacted]") == 7
    assert gate.tool == {"input": {"[redacted]": [1, "x[redacted]y", {"k": "[redacted]"}]}}

    usage = Usage(agent="a", input_tokens=5, model=f"m-{SECRET}")
    assert redactor.redact_model(usage) and usage.model == "m-[redacted]"
    clean = ToolCall(agent="a", name="Bash", input={"command": "ls"})
    before = clean.input
    assert redactor.redact_model(clean) is False and clean.input is before  # nothing copied
    assert redactor.redact_value({"a": (SECRET, 1), "b": None}) == {
        "a": ["[redacted]", 1],
        "b": None,
    }


def test_a_view_holding_a_secret_is_flagged_by_one_scan_of_its_json() -> None:
    """The control API settles a clean view by one scan of its pydantic JSON
    (``ControlAPI._redacted``): a secret anywhere in it, however JSON escapes it, is seen."""
    from pydantic import BaseModel

    from controlroom.store.redact import Redactor

    class View(BaseModel):
        text: str = ""
        table: dict[str, list[str]] = {}

    secrets = [SECRET, 'quo"te\\back-slash', "tab\tnew\nline\x01x", "unicodé ☃\u2028sep"]
    for secret in secrets:
        redactor = Redactor([secret])
        for text in (secret, f"before {secret} after", json.dumps({"inner": secret})):
            for view in (View(text=text), View(table={"k": ["a", text]}), View(table={text: []})):
                assert redactor.might_contain(view.model_dump_json()), (secret, view)
        assert not redactor.might_contain(View(text="clean", table={"a": ["b"]}).model_dump_json())
    assert Redactor([]).might_contain(View(text=f"key {KEY}").model_dump_json())
